"""Descriptive statistics without the statistics module."""

# Your data set: {{ n }} measurements of {{ topic }} ({{ unit }}).
DATA = {{ data | dump }}


def mean(xs):
    """The arithmetic mean of xs."""
    raise NotImplementedError("mean")


def median(xs):
    """The middle value of sorted xs, or the mean of the two middle values."""
    raise NotImplementedError("median")


def mode(xs):
    """The most frequent value of xs; the smallest of them on a tie."""
    raise NotImplementedError("mode")


def variance(xs):
    """The sample variance of xs (n - 1 in the denominator); 0.0 for one value."""
    raise NotImplementedError("variance")


def stdev(xs):
    """The square root of the sample variance."""
    raise NotImplementedError("stdev")


if __name__ == "__main__":
    for f in (mean, median, mode, variance, stdev):
        print(f.__name__, f(DATA))
