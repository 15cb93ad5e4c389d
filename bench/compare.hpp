// `fib-bench compare`: the same scenarios against every server model, one table, CSV/JSON, plots.
#pragma once
#include <string>

namespace fibs::bench {

struct CompareConfig {
    bool quick = false;         // short runs and fewer idle connections: about 20 s, for tests
    std::string out = "results";
    std::string bin_dir;        // where the servers are; default: beside fib-bench
    int threads = 1;            // fib-bench client threads
    bool plots = true;
};

int run_compare(const CompareConfig& cfg);

}  // namespace fibs::bench
