// Step 5: a loop per core. `fib-loop --loops N` runs N of Step 3's loops, each on a thread of its
// own; a client stays on the loop that took it. With one loop (the default) this is just run().
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "context.hpp"

namespace fibs::loop {

// Runs every loop until the stop: the first on this thread, each other on a thread of its own.
// `ready` runs once every loop's thread has started. When one loop ends (the stop, or a task the
// server needs failed) every loop is stopped, and the first loop's error is thrown here.
void run_loops(std::vector<std::unique_ptr<Context>>& loops, const std::function<void()>& ready);

}  // namespace fibs::loop
