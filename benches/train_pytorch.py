#!/usr/bin/env python3
"""The PyTorch side of benchmark P3: the same U-Net as avarisk's (src/model/unet.rs, same variable names, loaded from
the same initial weights), trained on the same tensors (exported by benches/train.rs) with the same batch size,
optimizer (AdamW, lr 2e-3, weight decay 1e-4) and masked, class-weighted BCE. Prints training samples per second.

usage: benches/train_pytorch.py DIR EPOCHS BATCH SEED
"""
import sys
import time

import torch
from safetensors.torch import load_file
from torch import nn
import torch.nn.functional as F


class ConvBlock(nn.Module):
    def __init__(self, c_in, c_out, dilation):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)

    def forward(self, x):
        return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))


class Encoder(nn.Module):
    def __init__(self, c_in, w, dilation):
        super().__init__()
        self.block1 = ConvBlock(c_in, w[0], 1)
        self.block2 = ConvBlock(w[0], w[1], 1)
        self.bottleneck = ConvBlock(w[1], w[2], dilation)

    def forward(self, x):
        s1 = self.block1(x)
        s2 = self.block2(F.max_pool2d(s1, 2))
        return s1, s2, self.bottleneck(F.max_pool2d(s2, 2))


class Decoder(nn.Module):
    def __init__(self, w, dropout):
        super().__init__()
        self.up2 = nn.ConvTranspose2d(w[2], w[1], 2, stride=2)
        self.block2 = ConvBlock(2 * w[1], w[1], 1)
        self.up1 = nn.ConvTranspose2d(w[1], w[0], 2, stride=2)
        self.block1 = ConvBlock(2 * w[0], w[0], 1)
        self.head = nn.Conv2d(w[0], 1, 1)
        self.dropout = dropout

    def forward(self, s1, s2, b):
        x = self.block2(torch.cat([s2, self.up2(b)], 1))
        x = self.block1(torch.cat([s1, self.up1(x)], 1))
        return self.head(F.dropout(x, self.dropout, self.training))


class UNet(nn.Module):
    def __init__(self, c_in, w=(16, 32, 64), dilation=2, dropout=0.1):
        super().__init__()
        self.encoder = Encoder(c_in, w, dilation)
        self.decoder = Decoder(w, dropout)

    def forward(self, x):
        return self.decoder(*self.encoder(x))


def main():
    d, epochs, batch, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.manual_seed(seed)
    data = load_file(f"{d}/train_data.safetensors")
    x, y, mask = data["x"], data["y"], data["mask"]
    model = UNet(x.shape[1])
    state = load_file(f"{d}/init.safetensors")
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    assert not missing and not unexpected, (missing, unexpected)
    labelled = mask.sum()
    positives = (y * mask).sum()
    pos_weight = (labelled - positives) / positives.clamp(min=1)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    model.train()
    rates = []
    for _ in range(epochs):
        order = torch.randperm(x.shape[0])
        t = time.perf_counter()
        for i in range(0, x.shape[0], batch):
            idx = order[i : i + batch]
            bx, by, bm = x.index_select(0, idx), y.index_select(0, idx), mask.index_select(0, idx)
            logits = model(bx)
            loss = F.binary_cross_entropy_with_logits(logits, by, weight=bm, pos_weight=pos_weight, reduction="sum")
            loss = loss / bm.sum().clamp(min=1)
            opt.zero_grad()
            loss.backward()
            opt.step()
        rates.append(x.shape[0] / (time.perf_counter() - t))
    steady = rates[1:] if len(rates) > 1 else rates
    print(f"threads {torch.get_num_threads()} samples_per_s {sum(steady) / len(steady):.1f}")


if __name__ == "__main__":
    main()
