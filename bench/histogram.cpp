#include "histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace fibs::bench {

namespace {
constexpr unsigned kSubBits = 7;                 // 128 buckets per power of two
constexpr std::uint64_t kLinear = 2u << kSubBits;  // values below 256: one bucket each
constexpr std::size_t kBuckets = kLinear + (64 - kSubBits - 1) * (1u << kSubBits);
}  // namespace

Histogram::Histogram() : counts_(kBuckets, 0) {}

std::size_t Histogram::index_of(std::uint64_t value) {
    if (value < kLinear) return static_cast<std::size_t>(value);
    unsigned shift = static_cast<unsigned>(std::bit_width(value)) - kSubBits - 1;  // >= 1
    std::uint64_t sub = (value >> shift) - (1u << kSubBits);                      // 0..127
    return kLinear + (shift - 1) * (1u << kSubBits) + static_cast<std::size_t>(sub);
}

std::uint64_t Histogram::lowest_of(std::size_t index) {
    if (index < kLinear) return index;
    std::size_t k = index - kLinear;
    unsigned shift = static_cast<unsigned>(k >> kSubBits) + 1;
    std::uint64_t sub = (k & ((1u << kSubBits) - 1)) + (1u << kSubBits);
    return sub << shift;
}

std::uint64_t Histogram::width_of(std::size_t index) {
    if (index < kLinear) return 1;
    return std::uint64_t{1} << (((index - kLinear) >> kSubBits) + 1);
}

void Histogram::record(std::uint64_t value) {
    ++counts_[index_of(value)];
    ++count_;
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
    sum_ += value;
}

void Histogram::merge(const Histogram& other) {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
    sum_ += other.sum_;
}

void Histogram::reset() { *this = Histogram(); }

std::uint64_t Histogram::percentile(double p) const {
    if (count_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(std::ceil(std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(count_)));
    rank = std::max<std::uint64_t>(rank, 1);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
        seen += counts_[i];
        if (seen >= rank) {
            std::uint64_t mid = lowest_of(i) + width_of(i) / 2;
            if (width_of(i) == 1) mid = lowest_of(i);
            return std::clamp(mid, min_, max_);
        }
    }
    return max_;
}

Spread spread_of(const std::vector<Histogram>& windows, double p) {
    std::vector<double> values;
    for (const Histogram& h : windows) {
        if (h.count() > 0) values.push_back(static_cast<double>(h.percentile(p)));
    }
    if (values.empty()) return {};
    std::sort(values.begin(), values.end());
    std::size_t mid = values.size() / 2;
    double median = values.size() % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
    return {median, values.front(), values.back()};
}

}  // namespace fibs::bench
