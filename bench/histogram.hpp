// A log-linear latency histogram in the style of HdrHistogram: fixed memory, bounded relative
// error, cheap to record into, mergeable. Values are nanoseconds.
//
// Values below 256 have a bucket each. Above, every power of two [2^k, 2^(k+1)) is cut into 128
// equal buckets, so a bucket is at most 1/128 of its value wide; reporting its midpoint keeps the
// error under 0.4%. 64-bit values need 57 such ranges: about 7,400 counters, 58 KiB.
#pragma once
#include <cstdint>
#include <vector>

namespace fibs::bench {

class Histogram {
public:
    Histogram();
    void record(std::uint64_t value);
    void merge(const Histogram& other);
    void reset();

    std::uint64_t count() const { return count_; }
    std::uint64_t max() const { return max_; }
    std::uint64_t min() const { return count_ ? min_ : 0; }
    double mean() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0; }
    // The value at percentile p (0..100): the smallest bucket holding at least p% of the values,
    // reported as its midpoint (exact for values below 256 and clamped to [min, max]).
    std::uint64_t percentile(double p) const;

    static std::size_t index_of(std::uint64_t value);
    static std::uint64_t lowest_of(std::size_t index);  // smallest value in that bucket
    static std::uint64_t width_of(std::size_t index);

private:
    std::vector<std::uint64_t> counts_;
    std::uint64_t count_ = 0;
    std::uint64_t min_ = UINT64_MAX;
    std::uint64_t max_ = 0;
    __uint128_t sum_ = 0;
};

// One percentile over a run cut into windows: the median of the windows' values (the middle one
// of three; the mean of the middle two for an even count), and the lowest and highest. Windows
// without a value are left out; all zero when none has one.
struct Spread {
    double median = 0, min = 0, max = 0;
};
Spread spread_of(const std::vector<Histogram>& windows, double p);

}  // namespace fibs::bench
