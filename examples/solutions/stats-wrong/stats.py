"""Descriptive statistics with typical mistakes (kept to check that the tests fail it):
population variance instead of sample variance, the upper middle value as the median of an
even-length list, and sort() that changes the caller's list."""
import math


def mean(xs):
    return sum(xs) / len(xs)


def median(xs):
    xs.sort()
    return xs[len(xs) // 2]


def mode(xs):
    return max(set(xs), key=xs.count)


def variance(xs):
    m = mean(xs)
    return sum((x - m) ** 2 for x in xs) / len(xs)


def stdev(xs):
    return math.sqrt(variance(xs))
