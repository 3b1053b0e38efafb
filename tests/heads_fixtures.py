"""Helpers shared by the relation-head tests."""
import torch


def overfit_relation_loss(head, inputs, lr: float, steps: int = 20) -> tuple[float, float]:
    """Train ``head`` on one fixed batch with Adam; ``loss_rel`` of the first step and after the last."""
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    first = None
    for _ in range(steps):
        losses = head(inputs).losses
        opt.zero_grad()
        sum(losses.values()).backward()
        opt.step()
        first = float(losses["loss_rel"].detach()) if first is None else first
    return first, float(head(inputs).losses["loss_rel"].detach())
