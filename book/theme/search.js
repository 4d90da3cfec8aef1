// Search: mdBook's search bar and result list, answered by Pagefind instead of mdBook's own
// index (elasticlunr), which holds no Chinese words at all.
//
// `cargo xtask book build` writes a Pagefind index of each language into <site>/<lang>/pagefind/
// (xtask/src/book/search.rs): Chinese text is segmented into words, KaTeX formulas are left out.
// This script builds the same elements mdBook builds when its own search is on (same ids, so
// mdBook's stylesheets give them the look of every theme), and fills the list from Pagefind's
// JavaScript API, loaded from that directory the first time the bar opens. Like mdBook's search:
//   - the magnifying glass, `/` or `s` opens the bar; Esc closes it; ↓/↑ walk the results and
//     Enter opens one;
//   - `?search=words` in a page's URL opens the bar with those words searched, and the URL follows
//     the words as they are typed (so the language switch and a copied link keep the search).
// Ranking: Pagefind scores each word of a query on its own, so 重参数化 (segmented 重 / 参数 / 化)
// would rank a page full of 初始化 and 权重 above the page about 重参数化. A Chinese reader expects
// the string itself, so for a query with runs of Chinese (or Japanese, Korean) characters the pages
// holding every run as an exact phrase come first, each group in Pagefind's order.
// Everything is loaded by URLs relative to the page (mdBook's `path_to_root`), so a site works at
// any path. Browsers refuse Pagefind's ES module, fetch() and WebAssembly to file:// pages: opened
// from disk, the bar says to serve the site over HTTP instead.
(function () {
    "use strict";
    var TEXT = {
        en: {
            button: "Search (`/`)",
            placeholder: "Search this book ...",
            help: "Press <kbd>S</kbd> or <kbd>/</kbd> to search in the book",
            results: function (n, q) {
                return n + " search result" + (n === 1 ? "" : "s") + " for '" + q + "':";
            },
            none: function (q) { return "No search results for '" + q + "'."; },
            searching: "Searching …",
            file: "Search needs the book served over HTTP, not opened as a file: for example run "
                + "<code>python3 -m http.server -d target/book</code> and open "
                + "<a href=\"http://localhost:8000/\">http://localhost:8000/</a>.",
            missing: "The search index is missing: build the book with "
                + "<code>cargo xtask book build</code>.",
        },
        zh: {
            button: "搜索（`/`）",
            placeholder: "在本书中搜索……",
            help: "按 <kbd>S</kbd> 或 <kbd>/</kbd> 在书中搜索",
            results: function (n, q) { return "“" + q + "”的搜索结果共 " + n + " 条："; },
            none: function (q) { return "没有找到“" + q + "”的搜索结果。"; },
            searching: "正在搜索……",
            file: "以文件方式打开时无法搜索，请通过 HTTP 访问本书：例如运行 "
                + "<code>python3 -m http.server -d target/book</code>，再打开 "
                + "<a href=\"http://localhost:8000/\">http://localhost:8000/</a>。",
            missing: "缺少搜索索引：请用 <code>cargo xtask book build</code> 构建本书。",
        },
    };
    // Results listed at most (mdBook's default `limit-results` is 30 sections; a page here holds
    // a whole chapter, and the book has a dozen pages).
    var LIMIT = 15;
    var CJK_RUN = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]{2,}/g;

    var lang = (document.documentElement.getAttribute("lang") || "en").toLowerCase().split("-")[0];
    var text = TEXT[lang] || TEXT.en;
    var menuBar = document.getElementById("mdbook-menu-bar");
    var leftButtons = menuBar && menuBar.querySelector(".left-buttons");
    if (!leftButtons || document.getElementById("mdbook-search-wrapper")) {
        return;
    }
    var toRoot = typeof path_to_root === "string" ? path_to_root : "";
    var root = new URL(toRoot || "./", window.location.href);
    var bundle = new URL("pagefind/", root);

    function element(tag, attrs, html) {
        var e = document.createElement(tag);
        Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
        if (html) {
            e.innerHTML = html;
        }
        return e;
    }
    function escapeHtml(s) {
        return String(s).replace(/[&<>"']/g, function (c) {
            return { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" }[c];
        });
    }

    // The elements of mdBook 0.5's index.hbs when search is enabled.
    var button = element("button", {
        id: "mdbook-search-toggle", class: "icon-button", type: "button", title: text.button,
        "aria-label": text.button, "aria-expanded": "false", "aria-keyshortcuts": "/ s",
        "aria-controls": "mdbook-searchbar",
    // Font Awesome's magnifying glass, as mdBook draws it.
    }, '<span class="fa-svg"><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 512 512"><!--! Font Awesome Free 6.2.0 by @fontawesome - https://fontawesome.com License - https://fontawesome.com/license/free (Icons: CC BY 4.0, Fonts: SIL OFL 1.1, Code: MIT License) Copyright 2022 Fonticons, Inc. --><path d="M416 208c0 45.9-14.9 88.3-40 122.7L502.6 457.4c12.5 12.5 12.5 32.8 0 45.3s-32.8 12.5-45.3 0L330.7 376c-34.4 25.2-76.8 40-122.7 40C93.1 416 0 322.9 0 208S93.1 0 208 0S416 93.1 416 208zM208 352c79.5 0 144-64.5 144-144s-64.5-144-144-144S64 128.5 64 208s64.5 144 144 144z"/></svg></span>');
    leftButtons.appendChild(button);

    var wrapper = element("div", { id: "mdbook-search-wrapper", class: "hidden" });
    var form = element("form", { id: "mdbook-searchbar-outer", class: "searchbar-outer" });
    var searchWrapper = element("div", { class: "search-wrapper" });
    var input = element("input", {
        type: "search", id: "mdbook-searchbar", name: "searchbar", placeholder: text.placeholder,
        "aria-controls": "mdbook-searchresults-outer", "aria-describedby": "mdbook-searchresults-header",
        autocomplete: "off",
    });
    searchWrapper.appendChild(input);
    form.appendChild(searchWrapper);
    var outer = element("div", {
        id: "mdbook-searchresults-outer", class: "searchresults-outer hidden",
        "data-search-state": "idle",
    });
    var header = element("div", { id: "mdbook-searchresults-header", class: "searchresults-header" });
    var list = element("ul", { id: "mdbook-searchresults" });
    outer.appendChild(header);
    outer.appendChild(list);
    wrapper.appendChild(form);
    wrapper.appendChild(outer);
    menuBar.parentNode.insertBefore(wrapper, menuBar.nextSibling);

    var help = document.querySelector("#mdbook-help-popup > div");
    if (help) {
        help.insertBefore(element("p", {}, text.help), help.children[1] || null);
    }

    // The words searched for, in the URL (?search=) and in the language switch's link.
    function remember(words) {
        try {
            var url = new URL(window.location.href);
            if (words) {
                url.searchParams.set("search", words);
            } else {
                url.searchParams.delete("search");
            }
            if (url.href !== window.location.href) {
                window.history.replaceState(window.history.state, "", url.href);
            }
            var other = document.querySelector(".ae-lang-switch");
            if (other) {
                var target = new URL(other.href);
                target.search = url.search;
                other.href = target.href;
            }
        } catch (e) { /* file:// pages may refuse replaceState */ }
    }

    function show(state, headerHtml) {
        outer.classList.remove("hidden");
        outer.setAttribute("data-search-state", state);
        header.innerHTML = headerHtml;
    }

    var pagefind = null;
    function loadPagefind() {
        if (!pagefind) {
            if (window.location.protocol === "file:") {
                pagefind = Promise.reject(new Error("file"));
            } else {
                pagefind = import(new URL("pagefind.js", bundle).href).then(function (pf) {
                    return pf.options({ baseUrl: root.pathname }).then(function () { return pf; });
                });
            }
            pagefind.catch(function () { /* reported by each search */ });
        }
        return pagefind;
    }

    // Pagefind's results, with the pages holding every Chinese run of the query as an exact
    // phrase first (see the top of this file).
    function ranked(pf, words) {
        var runs = words.match(CJK_RUN);
        var searches = [pf.search(words)];
        if (runs && words.indexOf("\"") < 0) {
            searches.push(pf.search(runs.map(function (r) { return "\"" + r + "\""; }).join(" ")));
        }
        return Promise.all(searches).then(function (found) {
            var all = found[0].results;
            if (found.length < 2) {
                return all;
            }
            var exact = {};
            found[1].results.forEach(function (r) { exact[r.id] = true; });
            var seen = {};
            all.forEach(function (r) { seen[r.id] = true; });
            return all.filter(function (r) { return exact[r.id]; })
                .concat(found[1].results.filter(function (r) { return !seen[r.id]; }))
                .concat(all.filter(function (r) { return !exact[r.id]; }));
        });
    }

    // mdBook's teaser marks the words in <em>.
    function teaser(excerpt) {
        return (excerpt || "").replace(/<\/mark><mark>/g, "")
            .replace(/<mark>/g, "<em>").replace(/<\/mark>/g, "</em>");
    }

    // One entry per page, linking to the section that matched most ("Page » Section").
    function entry(data) {
        var best = null;
        (data.sub_results || []).forEach(function (s) {
            if (!best || (s.locations || []).length > (best.locations || []).length) {
                best = s;
            }
        });
        var title = (data.meta && data.meta.title) || data.url;
        var url = data.url;
        var label = escapeHtml(title);
        var excerpt = data.excerpt;
        if (best) {
            url = best.url;
            excerpt = best.excerpt;
            if (best.title && best.title !== title && best.url !== data.url) {
                label += " » " + escapeHtml(best.title);
            }
        }
        var li = element("li", {});
        li.appendChild(element("a", { href: url }, label));
        li.appendChild(element("span", { "aria-label": "Search Result Teaser", class: "teaser" },
            teaser(excerpt)));
        return li;
    }

    var generation = 0;
    var timer = null;
    function search(words, delay) {
        words = words.trim();
        remember(words);
        clearTimeout(timer);
        var mine = ++generation;
        if (!words) {
            outer.classList.add("hidden");
            outer.setAttribute("data-search-state", "idle");
            list.innerHTML = "";
            return;
        }
        timer = setTimeout(function () {
            form.classList.add("searching");
            loadPagefind().then(function (pf) {
                return ranked(pf, words);
            }).then(function (results) {
                return Promise.all(results.slice(0, LIMIT).map(function (r) { return r.data(); }))
                    .then(function (pages) { return [results.length, pages]; });
            }).then(function (found) {
                if (mine !== generation) {
                    return;
                }
                form.classList.remove("searching");
                list.innerHTML = "";
                found[1].forEach(function (data) { list.appendChild(entry(data)); });
                var q = escapeHtml(words);
                show("done", found[0] ? text.results(found[0], q) : text.none(q));
            }, function (err) {
                if (mine !== generation) {
                    return;
                }
                form.classList.remove("searching");
                list.innerHTML = "";
                show("error", err && err.message === "file" ? text.file : text.missing);
            });
        }, delay);
    }

    function isOpen() {
        return !wrapper.classList.contains("hidden");
    }
    function open(words) {
        wrapper.classList.remove("hidden");
        button.setAttribute("aria-expanded", "true");
        if (typeof words === "string") {
            input.value = words;
            search(words, 0);
        }
        input.focus();
        loadPagefind();
    }
    function close() {
        wrapper.classList.add("hidden");
        button.setAttribute("aria-expanded", "false");
        remember("");
        button.focus();
    }

    // Keyboard walk through the results, as mdBook's: ↓ from the field to the first, Enter opens.
    function focused() {
        return list.querySelector("li.focus");
    }
    function move(step) {
        var items = Array.prototype.slice.call(list.children);
        var i = items.indexOf(focused());
        if (i >= 0) {
            items[i].classList.remove("focus");
        }
        var next = i + step;
        if (next < 0 || !items.length) {
            input.focus();
            return;
        }
        next = Math.min(next, items.length - 1);
        items[next].classList.add("focus");
        items[next].scrollIntoView({ block: "nearest" });
        input.blur();
    }

    // book.js leaves ← and → (previous and next chapter) alone while this says the search has
    // the focus, as mdBook's own search does.
    window.search = window.search || {
        hasFocus: function () {
            return isOpen() && (document.activeElement === input || !!focused());
        },
    };

    input.addEventListener("input", function () { search(input.value, 150); });
    form.addEventListener("submit", function (e) { e.preventDefault(); });
    button.addEventListener("click", function () {
        if (isOpen()) {
            close();
        } else {
            open();
        }
    });
    document.addEventListener("keydown", function (e) {
        if (e.altKey || e.ctrlKey || e.metaKey || e.shiftKey && e.key !== "S") {
            return;
        }
        var target = (e.composedPath && e.composedPath()[0]) || e.target;
        var typing = /^(?:input|select|textarea)$/i.test(target.nodeName || "");
        if (isOpen() && (target === input || !typing)) {
            if (e.key === "Escape") {
                e.preventDefault();
                close();
                return;
            }
            if (e.key === "ArrowDown" || e.key === "ArrowUp") {
                if (target === input && e.key === "ArrowUp") {
                    return;
                }
                if (target === input || focused()) {
                    e.preventDefault();
                    e.stopImmediatePropagation();
                    move(e.key === "ArrowDown" ? 1 : -1);
                    return;
                }
            }
            if (e.key === "Enter" && focused() && target !== input) {
                e.preventDefault();
                window.location.href = focused().querySelector("a").href;
                return;
            }
        }
        if (!typing && (e.key === "/" || e.key === "s" || e.key === "S")) {
            e.preventDefault();
            open();
        }
    }, true);

    var words = new URLSearchParams(window.location.search).get("search");
    if (words) {
        open(words);
    }
})();
