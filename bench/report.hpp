// How a run is shown: a text report for people, and flat figures for JSON and CSV.
#pragma once
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "load.hpp"

namespace fibs::bench {

// "38 µs", "1.25 ms", "2.00 s"
std::string format_ns(double ns);
// "122,560"
std::string format_count(double value);

void print_report(std::FILE* out, const LoadResult& r);
// The report's `machine` line: "a sleeping thread woke late by p50 76 µs, p99 118 µs, max 1.93 ms (...)".
std::string machine_line(const LoadResult& r);

// Every figure of a run as name -> value, in a fixed order (the columns of the CSV).
using Figures = std::vector<std::pair<std::string, double>>;
Figures figures_of(const LoadResult& r);

// A table of rows: text columns first (e.g. server, scenario), then the figures.
struct Row {
    std::vector<std::pair<std::string, std::string>> labels;
    Figures figures;
};
void write_csv(const std::string& path, const std::vector<Row>& rows);
// `meta` goes into a top-level "machine" object.
void write_json(const std::string& path, const std::vector<Row>& rows,
                const std::vector<std::pair<std::string, std::string>>& meta);

// The run's trace in the Chrome trace event format (ui.perfetto.dev, chrome://tracing): one track
// per client, one slice per request from its send to its reply.
void write_trace(const std::string& path, const LoadResult& r);

}  // namespace fibs::bench
