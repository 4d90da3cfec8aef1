// Language switch: a link in the menu bar that opens the same page in the other language.
//
// The site is laid out as <site>/en/<page>.html and <site>/zh/<page>.html (see xtask/src/book.rs).
// mdBook defines `path_to_root` on every page: the relative path from the page to its language's
// root. Resolving it against the page URL gives the language root (e.g. https://x.github.io/repo/en/
// or file:///.../target/book/en/); the part of the page URL below that root is the page's path, and
// `../zh/` from the root is the other language's root. Only relative URL arithmetic is used, so it
// works at any page depth, under a sub-path (GitHub Pages /<repo>/) and offline from file://.
(function () {
    "use strict";
    var LANGS = {
        en: { other: "zh", label: "中文", title: "阅读本页的中文版" },
        zh: { other: "en", label: "English", title: "Read this page in English" },
    };
    var lang = (document.documentElement.getAttribute("lang") || "en").toLowerCase().split("-")[0];
    var info = LANGS[lang];
    var bar = document.querySelector("#mdbook-menu-bar .right-buttons");
    if (!info || !bar) {
        return;
    }
    var toRoot = typeof path_to_root === "string" ? path_to_root : "";
    var href;
    try {
        var here = new URL(window.location.href);
        var root = new URL(toRoot || "./", here);
        var page = here.pathname.indexOf(root.pathname) === 0
            ? here.pathname.slice(root.pathname.length)
            : "";
        var target = new URL("../" + info.other + "/" + page, root);
        target.search = here.search;
        target.hash = here.hash;
        href = target.href;
    } catch (e) {
        href = toRoot + "../" + info.other + "/index.html";
    }
    var link = document.createElement("a");
    link.className = "ae-lang-switch";
    link.href = href;
    link.hreflang = info.other;
    link.lang = info.other;
    link.title = info.title;
    link.setAttribute("aria-label", info.title);
    link.textContent = info.label;
    bar.insertBefore(link, bar.firstChild);
})();
