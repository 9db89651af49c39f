"""Few training samples that cover the space of user representations (CLCLMRec's data selection): k-means over the
representations, then, for each cluster, the sample nearest its centre. The same seed gives the same samples."""
import numpy as np
import torch
from scipy.cluster.vq import kmeans2


def covering_samples(representations: torch.Tensor, count: int, seed: int) -> list[int]:
    """Indices of ``count`` rows of ``representations`` (or all rows when there are fewer), one per k-means cluster:
    the row nearest each centre, distinct, in cluster order."""
    rows = representations.size(0)
    if count >= rows:
        return list(range(rows))
    points = representations.detach().double().cpu().numpy()
    centres, labels = kmeans2(points, count, minit="++", seed=np.random.default_rng(seed))
    chosen: list[int] = []
    for cluster in range(count):
        members = np.setdiff1d(np.flatnonzero(labels == cluster), chosen)
        if members.size == 0:  # an empty cluster: the row nearest its centre among those not chosen yet
            members = np.setdiff1d(np.arange(rows), chosen)
        distances = np.linalg.norm(points[members] - centres[cluster], axis=1)
        chosen.append(int(members[np.argmin(distances)]))
    return chosen
