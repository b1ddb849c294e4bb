#!/usr/bin/env python3
"""The seed programs in Python: each is the seed's PyTorch code with tconv.nn
for torch.nn (tconv.view / tconv.cat for Tensor.view / torch.cat), printing
what the seed prints.  Weights: PyTorch's default initialisation
distribution; load a PyTorch state_dict with
model.load_state_dict(tconv.load_safetensors("weights.safetensors")).

    python3 examples/seeds.py            (after pip install ., or with PYTHONPATH=python)
"""
import numpy as np

import tconv
from tconv import nn


def size(a):
    """A shape printed as the seeds print torch shapes."""
    return "torch.Size([%s])" % ", ".join(str(d) for d in a.shape)


# ---- seed 000, example 2: a simplified DCGAN generator ------------------------------
class Generator(nn.Module):
    def __init__(self, latent_dim=100):
        super().__init__()
        self.fc = nn.Linear(latent_dim, 512 * 4 * 4)
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(512, 256, 4, 2, 1), nn.BatchNorm2d(256), nn.ReLU(),  # 4->8
            nn.ConvTranspose2d(256, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.ReLU(),  # 8->16
            nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),    # 16->32
            nn.ConvTranspose2d(64, 3, 4, 2, 1), nn.Tanh())                          # 32->64

    def forward(self, x):
        x = tconv.view(self.fc(x), -1, 512, 4, 4)
        return self.deconv(x)


# ---- seed 003: the GAN generator ---------------------------------------------------------
class Generator003(nn.Module):
    def __init__(self, z_dim=100, img_channels=3):
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose2d(z_dim, 128, 4, 1, 0, bias=False),  # [N, 100, 1, 1] -> [N, 128, 4, 4]
            nn.BatchNorm2d(128), nn.ReLU(True),
            nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False),     # -> [N, 64, 8, 8]
            nn.BatchNorm2d(64), nn.ReLU(True),
            nn.ConvTranspose2d(64, img_channels, 4, 2, 1, bias=False),  # -> [N, 3, 16, 16]
            nn.Tanh())

    def forward(self, x):
        return self.net(x)


# ---- seed 004: a U-Net block -------------------------------------------------------------
class UNetBlock(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1), nn.ReLU())
        self.up = nn.ConvTranspose2d(out_channels, out_channels // 2, 2, stride=2)

    def forward(self, x, skip):
        x = self.conv(x)
        x = self.up(x)
        return tconv.cat([x, skip], dim=1)


def main():
    rs = np.random.default_rng(0)

    def randn(*shape):
        return rs.standard_normal(shape).astype(np.float32)

    gen = Generator()
    z = randn(1, 100)
    img = gen(z)
    print("噪声:", size(z), "-> 图像:", size(img))

    z = randn(16, 100, 1, 1)
    print(size(Generator003()(z)))

    # seed 000, example 3: the U-Net decoder
    decoder = nn.Sequential(
        nn.ConvTranspose2d(256, 128, kernel_size=2, stride=2),  # 8x8 -> 16x16
        nn.Conv2d(128, 128, 3, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(128, 64, kernel_size=2, stride=2),   # 16x16 -> 32x32
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU())
    x = randn(1, 256, 8, 8)
    print("输入:", size(x), "-> 输出:", size(decoder(x)))

    block = UNetBlock(128, 64)
    x, skip = randn(1, 128, 16, 16), randn(1, 32, 32, 32)
    print("x: %s, skip: %s -> %s" % (size(x), size(skip), size(block(x, skip))))


if __name__ == "__main__":
    main()
