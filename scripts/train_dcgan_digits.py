#!/usr/bin/python3
"""Train seed 003's DCGAN generator on scikit-learn's 8x8 digits (upscaled to 16x16).

Run with Debian's Python (torch 1.13, python3-sklearn):
    /usr/bin/python3 scripts/train_dcgan_digits.py [--seconds 240] [--out models/dcgan_digits.safetensors]

The generator is seed 003's network with img_channels=1 (one grey channel):
    z (N, 100, 1, 1)
    -> ConvTranspose2d(100, 128, 4, 1, 0, bias=False) -> BatchNorm2d(128) -> ReLU   (N, 128, 4, 4)
    -> ConvTranspose2d(128, 64, 4, 2, 1, bias=False)  -> BatchNorm2d(64)  -> ReLU   (N, 64, 8, 8)
    -> ConvTranspose2d(64, 1, 4, 2, 1, bias=False)    -> Tanh                       (N, 1, 16, 16)
The widths are the seed's own (128, 64); the float32 weights are about 1.35 MB.
The discriminator is its mirror image (Conv2d + LeakyReLU(0.2), BatchNorm in the middle).

Only the generator's state_dict is saved (safetensors, names such as "net.0.weight",
"net.1.running_mean"); `tconv generate` runs it in C with eval-mode BatchNorm, so the script
also reports how the eval-mode samples look (mean/std) as a sanity check.
Training is time-boxed (default 240 s of wall clock, 1 thread) because the machine is shared.
"""
import argparse
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Generator(nn.Module):
    """Seed 003's generator, img_channels=1."""

    def __init__(self, z_dim=100, img_channels=1):
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose2d(z_dim, 128, 4, 1, 0, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(True),
            nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(True),
            nn.ConvTranspose2d(64, img_channels, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, x):
        return self.net(x)


class Discriminator(nn.Module):
    """16x16 -> 8x8 -> 4x4 -> 1 logit."""

    def __init__(self, img_channels=1):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(img_channels, 64, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(64, 128, 4, 2, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(128, 1, 4, 1, 0, bias=False),
        )

    def forward(self, x):
        return self.net(x).view(-1)


def load_digits_16():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (1797, 1, 8, 8) in [0, 1]
    x = F.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False)
    return (x * 2.0 - 1.0).clamp(-1.0, 1.0)  # Tanh's range


def weights_init(m):
    # DCGAN's usual initialisation: N(0, 0.02) convolutions, N(1, 0.02) BatchNorm scale.
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=240.0, help="wall-clock training budget")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "models",
                                                  "dcgan_digits.safetensors"))
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    data = load_digits_16()
    n = data.shape[0]
    gen, disc = Generator(), Discriminator()
    gen.apply(weights_init)
    disc.apply(weights_init)
    opt_g = torch.optim.Adam(gen.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()

    t0 = time.time()
    step = epoch = 0
    while time.time() - t0 < args.seconds:
        perm = torch.randperm(n)
        for i in range(0, n - args.batch + 1, args.batch):
            real = data[perm[i:i + args.batch]]
            b = real.shape[0]
            z = torch.randn(b, 100, 1, 1)
            fake = gen(z)
            # D: real -> 1 (smoothed to 0.9), fake -> 0.
            opt_d.zero_grad()
            loss_d = bce(disc(real), torch.full((b,), 0.9)) + bce(disc(fake.detach()), torch.zeros(b))
            loss_d.backward()
            opt_d.step()
            # G: make D call fakes real.
            opt_g.zero_grad()
            loss_g = bce(disc(fake), torch.ones(b))
            loss_g.backward()
            opt_g.step()
            step += 1
        epoch += 1
        if epoch % 10 == 0:
            print(f"epoch {epoch} step {step} t={time.time() - t0:.0f}s "
                  f"loss_d={loss_d.item():.3f} loss_g={loss_g.item():.3f}", flush=True)

    gen.eval()
    with torch.no_grad():
        s = gen(torch.randn(64, 100, 1, 1))
    print(f"done: {epoch} epochs, {step} steps, {time.time() - t0:.0f}s; "
          f"eval samples mean {s.mean().item():.3f} std {s.std().item():.3f} "
          f"(data mean {data.mean().item():.3f} std {data.std().item():.3f})")

    from safetensors.torch import save_file

    sd = {k: v.detach().contiguous() for k, v in gen.state_dict().items()}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_file(sd, args.out, metadata={
        "model": "seed003-dcgan-generator",
        "z_dim": "100", "img_channels": "1", "widths": "128,64",
        "dataset": "sklearn load_digits 8x8 -> bilinear 16x16, scaled to [-1, 1]",
        "epochs": str(epoch), "seed": str(args.seed),
    })
    print("wrote", os.path.abspath(args.out), os.path.getsize(args.out), "bytes")


if __name__ == "__main__":
    main()
