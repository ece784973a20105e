"""A DeepLog-style sequence detector: predict the next template, flag what is not among the top k.

DeepLog (Du et al., CCS 2017) learns the normal flow of a log as next-template prediction: an LSTM
reads the last `history` templates and scores every template as the next; a line whose template is
not among the `top_k` most likely is anomalous (and so is a template training never saw). Defaults
are the paper's (history 10, top 9, two LSTM layers of 64), with an embedding in front; training
is a few epochs of Adam on CPU over at most :data:`MAX_TRAIN` seeded samples (at least
``min_steps`` batches, so that a small training file is learnt too).

Torch is imported here only (it takes most of a second): a command that does not use DeepLog
never loads it. Everything is seeded (`torch.manual_seed`, a numpy generator for sampling and
batches), and torch runs single-threaded here so that results do not depend on the core count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PAD, UNSEEN = 0, 1  # token ids: history before the first line; a template training never saw
MAX_TRAIN = 5_000  # training samples (a seeded subsample beyond this): a second or two on one CPU core
BATCH = 256
CHUNK = 8192  # test positions scored at a time


@dataclass(frozen=True)
class DeepLogConfig:
    history: int = 10
    top_k: int = 9
    hidden: int = 64
    layers: int = 2
    embedding: int = 16
    epochs: int = 3
    min_steps: int = 80  # a small training set gets more epochs, up to this many batches in all
    lr: float = 1e-3


def _histories(tokens: np.ndarray, first: np.ndarray, positions: np.ndarray, h: int) -> np.ndarray:
    """The `h` tokens before each position within its session (PAD before the session's first line)."""
    idx = positions[:, None] - h + np.arange(h)[None, :]
    return np.where(idx >= first[positions][:, None], tokens[np.maximum(idx, 0)], PAD)


def flag_lines(tokens: np.ndarray, first: np.ndarray, train_mask: np.ndarray, test_from: int, vocab: int,
               seed: int, config: DeepLogConfig = DeepLogConfig()) -> np.ndarray:
    """Train on the positions in `train_mask`, then flag every line from `test_from` on.

    `tokens` are the whole sequence (2 + template column; PAD and UNSEEN as above), `first` each
    line's session start (its history does not reach before it), `vocab` the number of token ids.
    Returns a bool per line from `test_from` (True: not in the top k)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    h = config.history

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(vocab, config.embedding)
            self.lstm = nn.LSTM(config.embedding, config.hidden, config.layers, batch_first=True)
            self.out = nn.Linear(config.hidden, vocab)

        def forward(self, x):
            y, _ = self.lstm(self.embed(x))
            return self.out(y[:, -1])

    try:
        net = Net()
        positions = np.flatnonzero(train_mask)
        if len(positions) > MAX_TRAIN:
            positions = np.sort(rng.choice(positions, MAX_TRAIN, replace=False))
        if len(positions):
            X = torch.from_numpy(_histories(tokens, first, positions, h))
            y = torch.from_numpy(tokens[positions].astype(np.int64))
            opt = torch.optim.Adam(net.parameters(), lr=config.lr)
            loss_fn = nn.CrossEntropyLoss()
            net.train()
            batches = -(-len(positions) // BATCH)
            for _ in range(max(config.epochs, -(-config.min_steps // batches))):
                order = torch.from_numpy(rng.permutation(len(positions)))
                for a in range(0, len(order), BATCH):
                    idx = order[a:a + BATCH]
                    opt.zero_grad()
                    loss_fn(net(X[idx]), y[idx]).backward()
                    opt.step()
        net.eval()
        test = np.arange(test_from, len(tokens))
        flagged = np.zeros(len(test), dtype=bool)
        with torch.no_grad():
            for a in range(0, len(test), CHUNK):
                pos = test[a:a + CHUNK]
                logits = net(torch.from_numpy(_histories(tokens, first, pos, h)))
                target = torch.from_numpy(tokens[pos].astype(np.int64))
                mine = logits.gather(1, target[:, None])
                rank = (logits > mine).sum(dim=1).numpy()  # templates scored above the true one
                flagged[a:a + CHUNK] = (rank >= config.top_k) | (tokens[pos] == UNSEEN)
        return flagged
    finally:
        torch.set_num_threads(threads)
