#!/usr/bin/env python3
"""The PyTorch twins of the book's models (perf/src/lib.rs), timed like the Rust side.

Same layer widths, activations, losses, batch sizes and Adam settings (lr 1e-3, the chapter's
betas, eps 1e-8) as the chapter crates; the same real images, read from the same IDX files
(the embedded subset in chapters/ae-toolkit/data/, or the full sets in data/). Each command
prints one JSON object on stdout. `cargo xtask perf` runs them, interleaved with the Rust
benchmark; they also run alone:

    python3 perf/pytorch/train_step.py check
    python3 perf/pytorch/train_step.py step --model ch01-basic --threads 2
    python3 perf/pytorch/train_step.py epoch --model ch01-basic --threads 2 --data-dir data
    python3 perf/pytorch/train_step.py peak --threads 2

A training step is what the Rust `fit` loop does for every batch: forward, read the loss
(`loss.item()`, like fit's NaN guard), backward, Adam step, zero the gradients.

Needs only PyTorch (no NumPy, no torchvision). Without PyTorch every command exits with
status 3 and says so on stderr.
"""

import argparse
import gzip
import json
import statistics
import struct
import sys
import time
from pathlib import Path

EXIT_NO_TORCH = 3
TORCH_PIN = "2.15.0"

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError as error:  # the orchestrator reads the exit status
    print(
        f"PyTorch not installed ({error}): pip install torch=={TORCH_PIN} "
        "to get the comparison column",
        file=sys.stderr,
    )
    sys.exit(EXIT_NO_TORCH)

ROOT = Path(__file__).resolve().parents[2]
SUBSET_DIR = ROOT / "chapters" / "ae-toolkit" / "data"
SEED = 0

# --------------------------------------------------------------------------------------------
# Data: the IDX files, raw or .gz, as ae_toolkit::data reads them.


def read_images(directory, dataset):
    """Training images of `dataset` in `directory` as an (n, 784) float tensor in [0, 1]."""
    name = "train-images-idx3-ubyte"
    raw, packed = directory / dataset / name, directory / dataset / (name + ".gz")
    if raw.is_file():  # raw wins, as in ae_toolkit
        data = raw.read_bytes()
    elif packed.is_file():
        data = gzip.decompress(packed.read_bytes())
    else:
        raise SystemExit(f"no {name} (or .gz) in {directory / dataset}")
    magic, count, rows, cols = struct.unpack(">IIII", data[:16])
    if magic != 2051 or len(data) != 16 + count * rows * cols:
        raise SystemExit(f"{raw} is not an IDX image file")
    pixels = torch.frombuffer(bytearray(data[16:]), dtype=torch.uint8)
    return pixels.view(count, rows * cols).float() / 255.0


# --------------------------------------------------------------------------------------------
# Losses, computed from logits as ae_toolkit::losses does.


def bce_per_image(logits, x):
    """BCE summed over the pixels of each image, averaged over the batch."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]


def bce_per_pixel(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x)


def sigmoid_mse(logits, x):
    return F.mse_loss(torch.sigmoid(logits), x)


def linear_mse(output, x):
    return F.mse_loss(output, x)


def autoencoder(encoder, decoder):
    """`(encoder, decoder)`, like the dfdx tuple."""
    return nn.Sequential(nn.Sequential(*encoder), nn.Sequential(*decoder))


def reconstruction(model, loss):
    """The objective of ae_toolkit::model::train_reconstruction (Chapters 1 and 4)."""
    return model, lambda x: loss(model(x), x)


# --------------------------------------------------------------------------------------------
# The models. Each returns (module, loss of a batch).


def ch01_basic():
    return reconstruction(
        autoencoder(
            [nn.Linear(784, 400), nn.ReLU(), nn.Linear(400, 20)],
            [nn.Linear(20, 400), nn.ReLU(), nn.Linear(400, 784)],
        ),
        bce_per_image,
    )


def ch01_deep():
    return reconstruction(
        autoencoder(
            [nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 32)],
            [nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 784)],
        ),
        sigmoid_mse,
    )


def ch01_shallow():
    model = autoencoder([nn.Linear(784, 32), nn.ReLU()], [nn.Linear(32, 784)])
    for layer in model.modules():  # Glorot-uniform weights, zero biases (Keras' default)
        if isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    return reconstruction(model, bce_per_pixel)


def ch02_sparse(rho=0.05, beta=3.0, eps=1e-6):
    model = autoencoder([nn.Linear(784, 400), nn.Sigmoid()], [nn.Linear(400, 784)])
    encoder, decoder = model[0], model[1]

    def loss(x):
        hidden = encoder(x)
        rho_hat = hidden.mean(0).clamp(eps, 1 - eps)
        kl = (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()
        return bce_per_image(decoder(hidden), x) + beta * kl

    return model, loss


def denoising_layers(dropout=None):
    """784-512-256-128-256-512-784, ReLU, linear code and output; dropout after each hidden ReLU."""
    drop = [nn.Dropout(dropout)] if dropout else []
    return autoencoder(
        [nn.Linear(784, 512), nn.ReLU(), *drop, nn.Linear(512, 256), nn.ReLU(), *drop,
         nn.Linear(256, 128)],
        [nn.Linear(128, 256), nn.ReLU(), *drop, nn.Linear(256, 512), nn.ReLU(), *drop,
         nn.Linear(512, 784)],
    )


def ch03_denoising(sigma=0.5):
    model = denoising_layers()

    def loss(x):
        noisy = x + sigma * torch.randn_like(x)  # fresh Gaussian noise every step
        return linear_mse(model(noisy), x)  # the target is the clean image

    return model, loss


def ch04_dropout(p=0.2):
    model = denoising_layers(dropout=p)
    model.train()  # dropout active
    return reconstruction(model, linear_mse)


# ANCHOR: vae
class Vae(nn.Module):
    def __init__(self, z=20):
        super().__init__()
        self.hidden = nn.Linear(784, 400)
        self.mu = nn.Linear(400, z)
        self.logvar = nn.Linear(400, z)
        self.decoder = nn.Sequential(nn.Linear(z, 400), nn.ReLU(), nn.Linear(400, 784))


def ch05_vae(beta=1.0, limit=30.0):
    model = Vae()

    def loss(x):
        h = F.relu(model.hidden(x))
        mu, logvar = model.mu(h), model.logvar(h).clamp(-limit, limit)
        kl = (-0.5 * (1 + logvar - mu.square() - logvar.exp())).sum(1).mean()
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)  # reparameterization
        return bce_per_image(model.decoder(z), x) + beta * kl

    return model, loss
# ANCHOR_END: vae


def ch06_deep():
    """Hinton & Salakhutdinov's 784-1000-500-250-30 autoencoder, ReLU, linear code, BCE."""
    return reconstruction(
        autoencoder(
            [nn.Linear(784, 1000), nn.ReLU(), nn.Linear(1000, 500), nn.ReLU(),
             nn.Linear(500, 250), nn.ReLU(), nn.Linear(250, 30)],
            [nn.Linear(30, 250), nn.ReLU(), nn.Linear(250, 500), nn.ReLU(),
             nn.Linear(500, 1000), nn.ReLU(), nn.Linear(1000, 784)],
        ),
        bce_per_image,
    )


# id: (build, data set directory, pixels in [-1, 1], batch size, Adam betas)
MODELS = {
    "ch01-basic": (ch01_basic, "mnist", False, 128, (0.9, 0.999)),
    "ch01-deep": (ch01_deep, "mnist", False, 128, (0.9, 0.999)),
    "ch01-shallow": (ch01_shallow, "mnist", False, 256, (0.9, 0.999)),
    "ch02-sparse": (ch02_sparse, "mnist", False, 128, (0.9, 0.999)),
    "ch03-denoising": (ch03_denoising, "fashion-mnist", True, 128, (0.5, 0.999)),
    "ch04-dropout": (ch04_dropout, "fashion-mnist", True, 128, (0.5, 0.999)),
    "ch05-vae": (ch05_vae, "mnist", False, 128, (0.9, 0.999)),
    "ch06-deep": (ch06_deep, "mnist", False, 128, (0.9, 0.999)),
}


# --------------------------------------------------------------------------------------------
# Timing.


# ANCHOR: step
def training_step(model, loss_of, betas):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=betas, eps=1e-8)

    def step(x):
        loss = loss_of(x)
        value = loss.item()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return value

    return step
# ANCHOR_END: step


def timed(run, warmup, seconds, min_runs=10):
    """Seconds of each call of `run` after `warmup` seconds of calls, for at least `seconds`."""
    end = time.perf_counter() + warmup
    while time.perf_counter() < end:
        run()
    times, start = [], time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return times


def summary(times):
    return {
        "median_s": statistics.median(times),
        "mean_s": statistics.fmean(times),
        "min_s": min(times),
        "runs": len(times),
    }


def setup(model_id, threads):
    if model_id not in MODELS:
        raise SystemExit(f"no model {model_id!r}; the models are {', '.join(MODELS)}")
    torch.set_num_threads(threads)
    torch.manual_seed(SEED)
    build, dataset, symmetric, batch, betas = MODELS[model_id]
    model, loss_of = build()
    linears = [[m.in_features, m.out_features] for m in model.modules() if isinstance(m, nn.Linear)]
    info = {"id": model_id, "batch_size": batch, "betas": list(betas), "linears": linears}
    return model, training_step(model, loss_of, betas), dataset, symmetric, batch, info


def load(directory, dataset, symmetric):
    images = read_images(Path(directory), dataset)
    return images * 2 - 1 if symmetric else images


def cmd_check(_):
    return {
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "python": sys.version.split()[0],
        "threads_default": torch.get_num_threads(),
        "models": list(MODELS),
    }


def cmd_step(args):
    model, step, dataset, symmetric, batch, info = setup(args.model, args.threads)
    x = load(SUBSET_DIR, dataset, symmetric)[:batch].contiguous()  # the first batch, in file order
    losses = []
    times = timed(lambda: losses.append(step(x)), args.warmup, args.seconds)
    return {**info, **summary(times), "threads": torch.get_num_threads(),
            "loss_first": losses[0], "loss_last": losses[-1]}


def cmd_epoch(args):
    model, step, dataset, symmetric, batch, info = setup(args.model, args.threads)
    images = load(args.data_dir, dataset, symmetric)
    n = images.shape[0]
    generator = torch.Generator().manual_seed(SEED)
    # Timed like fit's clock: the shuffle, the batches and the steps; no evaluation.
    start = time.perf_counter()
    order = torch.randperm(n, generator=generator)
    total = 0.0
    for i in range(0, n, batch):  # the last, smaller batch is kept, as in ae_toolkit
        index = order[i:i + batch]
        total += step(images[index]) * len(index)
    seconds = time.perf_counter() - start
    return {**info, "seconds": seconds, "images": n, "train_loss": total / n,
            "threads": torch.get_num_threads()}


def cmd_peak(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    a, b = torch.randn(args.n, args.n), torch.randn(args.n, args.n)
    times = timed(lambda: torch.mm(a, b), args.warmup, args.seconds)
    return {"n": args.n, "flops": 2 * args.n ** 3, **summary(times), "threads": torch.get_num_threads()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="PyTorch's version and the models")
    for name, what in [("step", "time training steps on one batch"),
                       ("epoch", "time one epoch over the training set"),
                       ("peak", "time an n x n single-precision matrix product")]:
        p = commands.add_parser(name, help=what)
        p.add_argument("--threads", type=int, required=True)
        if name != "peak":
            p.add_argument("--model", required=True, choices=list(MODELS))
        if name == "epoch":
            p.add_argument("--data-dir", default=str(ROOT / "data"),
                           help="holds mnist/ and fashion-mnist/ (the embedded subset: "
                                f"{SUBSET_DIR.relative_to(ROOT)})")
        else:
            p.add_argument("--warmup", type=float, default=2.0, help="seconds")
            p.add_argument("--seconds", type=float, default=5.0, help="seconds of measurement")
        if name == "peak":
            p.add_argument("--n", type=int, default=1024)
    args = parser.parse_args()
    run = {"check": cmd_check, "step": cmd_step, "epoch": cmd_epoch, "peak": cmd_peak}
    print(json.dumps(run[args.command](args)))


if __name__ == "__main__":
    main()
