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
    python3 perf/pytorch/train_step.py train --model ch07-conv --epochs 50 --threads 2

`train` trains a twin the way the chapter's reproduce example trains the Rust model (shuffled
mini-batches, the last smaller batch kept, the test set scored after every epoch) and prints the
test loss of every epoch: the PyTorch column of the chapter's table. `forward` runs a twin with
weights given by name (the Rust model's, from perf/tests/models.rs) and prints its code and
output, so that the two can be compared value by value.

Every command that builds a model reports its layers as `cargo xtask perf` checks them against
the Rust model: `linears`, the (inputs, outputs) of each layer's weight matrix (a convolution's is
(in*k*k, out)); `matrix_products`, with the positions each runs at; `weights`, every parameter's
name and shape.

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
# Added to the run's seed for the generator of the test set's fixed noise (`train`).
TEST_NOISE_STREAM = 1_000_003

# --------------------------------------------------------------------------------------------
# Data: the IDX files, raw or .gz, as ae_toolkit::data reads them.


IMAGE_FILES = {"train": "train-images-idx3-ubyte", "test": "t10k-images-idx3-ubyte"}


def read_images(directory, dataset, split="train"):
    """Images of `split` ("train" or "test") of `dataset` in `directory` as an (n, 784) float
    tensor in [0, 1]."""
    name = IMAGE_FILES[split]
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


# Chapter 3's Gaussian noise σ (ch03_denoising::SIGMA), on pixels in [-1, 1].
SIGMA = 0.5


def gaussian_denoising(model, sigma=SIGMA):
    """Chapter 3's objective (ch03_denoising::denoising_loss) for any autoencoder with a linear
    output: fresh Gaussian noise every step, MSE per pixel against the clean image."""
    def loss(x):
        noisy = x + sigma * torch.randn_like(x)
        return linear_mse(model(noisy), x)  # the target is the clean image

    return model, loss


def ch03_denoising():
    return gaussian_denoising(denoising_layers())


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


def elbo_terms(mu, logvar, decode, x, eps, limit=30.0):
    """The negative ELBO's two terms given the noise `eps`: BCE per image of the decoding of
    the reparameterized sample, and the closed-form KL divergence from the standard normal (log
    variance clamped), each averaged over the batch."""
    logvar = logvar.clamp(-limit, limit)
    kl = (-0.5 * (1 + logvar - mu.square() - logvar.exp())).sum(1).mean()
    z = mu + torch.exp(0.5 * logvar) * eps  # reparameterization
    return bce_per_image(decode(z), x), kl


def negative_elbo(mu, logvar, decode, x, beta):
    """Chapter 5's objective on fresh noise: reconstruction + beta * KL."""
    reconstruction, kl = elbo_terms(mu, logvar, decode, x, torch.randn_like(mu))
    return reconstruction + beta * kl


def ch05_vae(beta=1.0):
    model = Vae()

    def loss(x):
        h = F.relu(model.hidden(x))
        return negative_elbo(model.mu(h), model.logvar(h), model.decoder, x, beta)

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


# ANCHOR: conv
def conv_autoencoder():
    """The Keras blog's convolutional autoencoder as Chapter 7 types it (ch07_convolutional::
    ConvAutoencoder), nested as its tuples are, so that the parameters' names are dfdx's too."""
    def down(c_in, c_out, pool_padding=0):  # 3x3 convolution, "same" size, then 2x2 max-pooling
        return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(),
                             nn.MaxPool2d(2, 2, padding=pool_padding))

    def up(c_in, c_out, padding=1):  # 3x3 convolution, then nearest-neighbour upsampling x2
        return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=padding), nn.ReLU(),
                             nn.Upsample(scale_factor=2, mode="nearest"))

    return autoencoder(
        [nn.Unflatten(1, (1, 28, 28)), down(1, 16), down(16, 8), down(8, 8, pool_padding=1),
         nn.Flatten()],
        [nn.Unflatten(1, (8, 4, 4)), up(8, 8), up(8, 8), up(8, 16, padding=0),
         nn.Conv2d(16, 1, 3, padding=1), nn.Flatten()],
    )


def ch07_conv():
    return reconstruction(conv_autoencoder(), bce_per_image)
# ANCHOR_END: conv


def ch07_denoising():
    """Chapter 7's convolutional denoiser (ch07_convolutional::denoising::ConvDenoiser): the same
    layers as the autoencoder, trained with Chapter 3's objective, so its last convolution's
    outputs are the pixels in [-1, 1] (no sigmoid)."""
    return gaussian_denoising(conv_autoencoder())


class SplitInto(nn.Module):
    """dfdx's SplitInto: every branch reads the same input (the VAE's two heads)."""

    def __init__(self, *branches):
        super().__init__()
        self.add_module("0", nn.ModuleList(branches))  # dfdx names the tuple field "0"

    def forward(self, x):
        return tuple(branch(x) for branch in getattr(self, "0"))


class Crop(nn.Module):
    """ae_toolkit's Crop2D<LEAD, TRAIL>: rows and columns cut at the top-left and bottom-right."""

    def __init__(self, lead, trail):
        super().__init__()
        self.lead, self.trail = lead, trail

    def forward(self, x):
        h, w = x.shape[-2:]
        return x[:, :, self.lead:h - self.trail, self.lead:w - self.trail]


def conv_vae(z=20):
    """Chapter 7's convolutional VAE (TensorFlow's CVAE tutorial's shape), nested as
    ch07_convolutional::vae::ConvVae's tuples. TensorFlow's "same" stride-2 transposed
    convolution is ConvTranspose2d(stride=2) with its last row and column cut (Crop(0, 1))."""
    def tf_same_up(c_in, c_out):
        return nn.Sequential(nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 3, stride=2),
                                           Crop(0, 1)), nn.ReLU())

    return autoencoder(
        [nn.Unflatten(1, (1, 28, 28)),
         nn.Sequential(nn.Conv2d(1, 32, 3, stride=2), nn.ReLU()),
         nn.Sequential(nn.Conv2d(32, 64, 3, stride=2), nn.ReLU()),
         nn.Flatten(),
         SplitInto(nn.Linear(2304, z), nn.Linear(2304, z))],
        [nn.Sequential(nn.Linear(z, 7 * 7 * 32), nn.ReLU()), nn.Unflatten(1, (32, 7, 7)),
         tf_same_up(32, 64), tf_same_up(64, 32),
         nn.ConvTranspose2d(32, 1, 3, stride=1, padding=1), nn.Flatten()],
    )


def ch07_vae(beta=1.0):
    model = conv_vae()
    encoder, decoder = model[0], model[1]

    def loss(x):
        mu, logvar = encoder(x)
        return negative_elbo(mu, logvar, decoder, x, beta)

    return model, loss


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
    "ch07-conv": (ch07_conv, "mnist", False, 128, (0.9, 0.999)),
    "ch07-vae": (ch07_vae, "mnist", False, 128, (0.9, 0.999)),
    # Not among `cargo xtask perf`'s models (it times those of perf/src/lib.rs, which the twins
    # follow; this one's step is ch07-conv's with Chapter 3's loss): here for `train`, the
    # PyTorch column of Chapter 7's denoising row.
    "ch07-denoising": (ch07_denoising, "mnist", True, 128, (0.5, 0.999)),
}


# --------------------------------------------------------------------------------------------
# Test losses: what `train` reports after every epoch, the number the chapter's table shows.
# Each builds, once before training, a scorer of a slice of the test set: `score(start, x)` for
# the images `x` at test indices `start..`, returning {"loss": ..., and any parts}. Noise the
# Rust side draws once for the test set (so every epoch is scored on the same draw) is drawn
# once here too, from `generator`; a different draw from Rust's, of the same distribution.


def clean_reconstruction(loss):
    """The chapter's loss on clean test images (ae_toolkit::model::train_reconstruction)."""
    def scorer(model, test, generator):
        return lambda start, x: {"loss": loss(model(x), x)}

    return scorer


def vae_negative_elbo(latent):
    """ch05_vae::train_model's test metric: −ELBO per image with β = 1 on ONE reparameterized
    sample per test image, its noise ε drawn once for the whole test set (not the mean code),
    and its two terms as parts."""
    def scorer(model, test, generator):
        eps = torch.randn(test.shape[0], latent, generator=generator)
        encoder, decoder = model[0], model[1]

        def score(start, x):
            mu, logvar = encoder(x)
            reconstruction, kl = elbo_terms(mu, logvar, decoder, x, eps[start:start + x.shape[0]])
            return {"loss": reconstruction + kl, "reconstruction": reconstruction, "kl": kl}

        return score

    return scorer


def gaussian_denoising_mse(sigma=SIGMA):
    """ch03_denoising::train_denoiser's test metric: MSE per pixel between the clean test images
    and the model's output for their noisy copies, the noise drawn once for the whole test set."""
    def scorer(model, test, generator):
        noisy = test + sigma * torch.randn(test.shape, generator=generator)
        return lambda start, x: {"loss": linear_mse(model(noisy[start:start + x.shape[0]]), x)}

    return scorer


# id: (scorer, what `train` reports of its settings for the caller's configuration check)
TEST_LOSS = {
    "ch07-conv": (clean_reconstruction(bce_per_image), {}),
    "ch07-vae": (vae_negative_elbo(latent=20), {"latent": 20, "beta": 1.0}),
    "ch07-denoising": (gaussian_denoising_mse(SIGMA), {"noise_sigma": SIGMA}),
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


def matrix_products(model):
    """The matrix product of every layer with weights on one image, as perf/src/lib.rs counts
    them: [inputs, outputs, positions]. A Linear runs its (in, out) matrix once; a convolution
    its (in*k*k, out) matrix at every output position; a transposed convolution its
    (in, out*k*k) matrix at every input position."""
    products, hooks = [], []

    def record(layer, inputs, output):
        if isinstance(layer, nn.Linear):
            products.append([layer.in_features, layer.out_features, 1])
        elif isinstance(layer, nn.Conv2d):
            k = layer.kernel_size[0] * layer.kernel_size[1]
            products.append([layer.in_channels // layer.groups * k, layer.out_channels,
                             output.shape[-2] * output.shape[-1]])
        elif isinstance(layer, nn.ConvTranspose2d):
            k = layer.kernel_size[0] * layer.kernel_size[1]
            products.append([layer.in_channels, layer.out_channels // layer.groups * k,
                             inputs[0].shape[-2] * inputs[0].shape[-1]])

    for layer in model.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            hooks.append(layer.register_forward_hook(record))
    with torch.no_grad():
        run_on_one_image(model)
    for hook in hooks:
        hook.remove()
    return products


def run_on_one_image(model):
    """A forward pass of one blank image through every layer of `model`."""
    x = torch.zeros(1, 784)
    if isinstance(model, Vae):  # the VAE's objective, not its modules, chains them
        h = F.relu(model.hidden(x))
        z = model.mu(h)
        model.logvar(h)
        model.decoder(z)
    else:  # an (encoder, decoder) pair; a VAE's decoder reads the mean of its code
        code = model[0](x)
        model[1](code[0] if isinstance(code, tuple) else code)


def setup(model_id, threads, seed=SEED):
    if model_id not in MODELS:
        raise SystemExit(f"no model {model_id!r}; the models are {', '.join(MODELS)}")
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    build, dataset, symmetric, batch, betas = MODELS[model_id]
    model, loss_of = build()
    products = matrix_products(model)
    # What `cargo xtask perf` checks against the Rust model, layer by layer.
    info = {"id": model_id, "batch_size": batch, "betas": list(betas),
            "linears": [[i, o] for i, o, _ in products], "matrix_products": products,
            "parameters": sum(p.numel() for p in model.parameters()),
            "weights": [[name, list(p.shape)] for name, p in model.named_parameters()]}
    return model, training_step(model, loss_of, betas), dataset, symmetric, batch, info


def load(directory, dataset, symmetric, split="train"):
    images = read_images(Path(directory), dataset, split)
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
    order = epoch_order(n, generator)
    total = 0.0
    for i in range(0, n, batch):  # the last, smaller batch is kept, as in ae_toolkit
        index = order[i:i + batch]
        total += step(images[index]) * len(index)
    seconds = time.perf_counter() - start
    return {**info, "seconds": seconds, "images": n, "train_loss": total / n,
            "threads": torch.get_num_threads()}


def epoch_order(n, generator):
    """A fresh random order of the training images for every epoch."""
    return torch.randperm(n, generator=generator)


def cmd_train(args):
    if args.model not in TEST_LOSS:
        raise SystemExit(f"no test loss for {args.model!r}; `train` runs {', '.join(TEST_LOSS)}")
    model, step, dataset, symmetric, batch, info = setup(args.model, args.threads, args.seed)
    train = load(args.data_dir, dataset, symmetric)
    test = load(args.data_dir, dataset, symmetric, split="test")
    scorer, test_settings = TEST_LOSS[args.model]
    generator = torch.Generator().manual_seed(args.seed)
    # The test set's fixed noise (drawn once, before training, as on the Rust side) from a
    # generator of its own: the training's draws neither move it nor are moved by it.
    score = scorer(model, test, torch.Generator().manual_seed(args.seed + TEST_NOISE_STREAM))
    parts = {}  # every part's value after every evaluation, "loss" included

    def test_loss():  # the mean over test images, in batches of 1000 as the toolkit scores them
        totals = {}
        with torch.no_grad():
            for i in range(0, test.shape[0], 1000):
                x = test[i:i + 1000]
                for name, value in score(i, x).items():
                    totals[name] = totals.get(name, 0.0) + value.item() * x.shape[0]
        for name, total in totals.items():
            parts.setdefault(name, []).append(total / test.shape[0])
        return parts["loss"][-1]

    test_losses, train_losses, seconds = [test_loss()], [], []
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()  # like fit's clock: the shuffle, the batches, the steps
        order = epoch_order(train.shape[0], generator)
        total = 0.0
        for i in range(0, train.shape[0], batch):  # the last, smaller batch is kept
            index = order[i:i + batch]
            total += step(train[index]) * len(index)
        seconds.append(time.perf_counter() - start)
        train_losses.append(total / train.shape[0])
        test_losses.append(test_loss())
        print(f"epoch {epoch}/{args.epochs}: test loss {test_losses[-1]:.4f}, "
              f"{seconds[-1]:.1f} s", file=sys.stderr, flush=True)
    return {**info, "epochs": args.epochs, "seed": args.seed, "dataset": dataset,
            "symmetric_range": symmetric, "test_settings": test_settings,
            "train_images": train.shape[0], "test_images": test.shape[0],
            "test_loss": test_losses,
            "test_parts": {name: values for name, values in parts.items() if name != "loss"},
            "train_loss": train_losses, "epoch_seconds": seconds,
            "training_seconds": sum(seconds), "torch": torch.__version__,
            "threads": torch.get_num_threads()}


def cmd_forward(args):
    """The twin's code (a VAE's: the mean) and the logits decoded from it for the first images
    of the embedded subset, with the weights of the Rust model (perf/tests/models.rs compares
    them with its own)."""
    model, _, dataset, symmetric, _, info = setup(args.model, args.threads)
    if not (isinstance(model, nn.Sequential) and len(model) == 2):
        raise SystemExit(f"{args.model} is not an (encoder, decoder) pair")
    tensors = json.loads(Path(args.weights).read_text())
    # strict: every parameter of the twin named once, no name it does not have
    model.load_state_dict({t["name"]: torch.tensor(t["values"]).view(t["shape"]) for t in tensors})
    x = load(SUBSET_DIR, dataset, symmetric)[:args.images]
    with torch.no_grad():
        code = model[0](x)
        if isinstance(code, tuple):  # a VAE's (mu, log variance): decode the mean
            code = code[0]
        logits = model[1](code)
    return {**info, "code": code.flatten().tolist(), "logits": logits.flatten().tolist()}


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
                       ("train", "train a model on the full set, scoring the test set every epoch"),
                       ("forward", "a model's code and output with given weights, on subset images"),
                       ("peak", "time an n x n single-precision matrix product")]:
        p = commands.add_parser(name, help=what)
        p.add_argument("--threads", type=int, required=True)
        if name != "peak":
            p.add_argument("--model", required=True, choices=list(MODELS))
        if name in ("epoch", "train"):
            p.add_argument("--data-dir", default=str(ROOT / "data"),
                           help="holds mnist/ and fashion-mnist/ (the embedded subset: "
                                f"{SUBSET_DIR.relative_to(ROOT)})")
        if name == "forward":
            p.add_argument("--weights", required=True,
                           help="JSON: [{name, shape, values}] of every parameter")
            p.add_argument("--images", type=int, default=16)
        elif name == "train":
            p.add_argument("--epochs", type=int, required=True)
            p.add_argument("--seed", type=int, default=SEED,
                           help="seeds the initial weights and the shuffles")
        elif name != "epoch":
            p.add_argument("--warmup", type=float, default=2.0, help="seconds")
            p.add_argument("--seconds", type=float, default=5.0, help="seconds of measurement")
        if name == "peak":
            p.add_argument("--n", type=int, default=1024)
    args = parser.parse_args()
    run = {"check": cmd_check, "step": cmd_step, "epoch": cmd_epoch, "train": cmd_train,
           "forward": cmd_forward, "peak": cmd_peak}
    print(json.dumps(run[args.command](args)))


if __name__ == "__main__":
    main()
