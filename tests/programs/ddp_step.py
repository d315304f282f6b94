"""One DDP training step (gloo, CPU) for Loom's launcher-mode test.

Started by torchrun (or once per rank by Loom); reads RANK, WORLD_SIZE and the rendezvous from the
environment (env://). Each rank feeds different data, takes one backward step under
DistributedDataParallel and writes ddp.<RANK>.json in the working directory: its RANK and
WORLD_SIZE, the averaged gradients DDP left, and the gradients of the same step without DDP, so a
test can check that the ranks agree and that they would not have without the all-reduce.
"""
import json
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


def model():
    torch.manual_seed(0)  # the same initial weights on every rank, as DDP requires
    return torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))


def step(net, rank):
    gen = torch.Generator().manual_seed(1000 + rank)  # each rank its own batch
    x = torch.randn(16, 8, generator=gen)
    y = torch.randn(16, 1, generator=gen)
    loss = torch.nn.functional.mse_loss(net(x), y)
    loss.backward()
    return [p.grad.flatten().tolist() for p in net.parameters()]


def main():
    dist.init_process_group("gloo", init_method="env://")
    rank, world = dist.get_rank(), dist.get_world_size()
    local = step(model(), rank)
    ddp = DistributedDataParallel(model())
    averaged = step(ddp, rank)
    out = {
        "rank": rank,
        "world_size": world,
        "env_rank": os.environ.get("RANK"),
        "env_world_size": os.environ.get("WORLD_SIZE"),
        "local_rank": os.environ.get("LOCAL_RANK"),
        "ddp_grads": averaged,
        "local_grads": local,
    }
    with open("ddp.%d.json.tmp" % rank, "w") as f:
        json.dump(out, f)
    os.rename("ddp.%d.json.tmp" % rank, "ddp.%d.json" % rank)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
