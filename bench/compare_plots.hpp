// compare's plots: an SVG per scenario with gnuplot, or bars in the terminal without it.
#pragma once
#include <string>
#include <vector>

#include "compare.hpp"

namespace fibs::bench {

using Runs = std::vector<const Measured*>;

// The rows of each scenario that has a plot (each row its chosen round).
struct Plots {
    Runs clients, pipelined, hol, fairness, idle, timeline, latency;
};

// clients.svg, pipelined.svg, hol.svg, idle.svg, timeline.svg and latency.svg in cfg.out, or (without
// gnuplot, or with --no-plots) bars on stdout. The server lists name the lines, in their order.
void write_plots(const CompareConfig& cfg, const Plots& plots, const std::vector<std::string>& client_servers,
                 const std::vector<std::string>& idle_servers);

}  // namespace fibs::bench
