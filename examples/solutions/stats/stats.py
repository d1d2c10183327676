"""Descriptive statistics without the statistics module (reference solution)."""
import math
from collections import Counter


def mean(xs):
    return math.fsum(xs) / len(xs)


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def mode(xs):
    counts = Counter(xs)
    top = max(counts.values())
    return min(x for x, c in counts.items() if c == top)


def variance(xs):
    if len(xs) < 2:
        return 0.0
    m = mean(xs)
    return math.fsum((x - m) ** 2 for x in xs) / (len(xs) - 1)


def stdev(xs):
    return math.sqrt(variance(xs))
