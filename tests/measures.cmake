# Read by ctest after the tests are discovered (TEST_INCLUDE_FILES, tests/CMakeLists.txt).
#
# Most tests wait on sockets and processes, so ctest runs several at once (the presets' "jobs").
# The ones below measure time, CPU or system calls, so each runs alone (RUN_SERIAL): a neighbour
# would be measured with it. They carry the label "measures": `ctest -L measures` runs them only.
set(fibs_measures
    "^BenchLoad\\.(MeasuresA20msDelay|OpenLoopKeepsItsSchedule|WindowsSplitTheLatency)"
    "^BenchMachine\\."
    "^Epoll\\."
    "EveryServer\\.ClientsThatLeaveCost"
    "EveryServer\\.AMixedBatchIsAnsweredWithoutWaitingForADelayedAck"
    "WithWorkers\\.")
# fib-bench compare runs for a fixed time whoever runs beside it, and checks what its report holds,
# not its figures: it runs beside the others, and first, being the longest.
foreach(name IN LISTS test_bench_TESTS)
  if(name MATCHES "^BenchCompare\\.")
    set_tests_properties("${name}" PROPERTIES COST 1000)
  endif()
endforeach()

foreach(suite test_common test_servers test_bench test_loop test_concurrent test_docs)
  foreach(name IN LISTS ${suite}_TESTS)
    foreach(pattern IN LISTS fibs_measures)
      if(name MATCHES "${pattern}")
        set_tests_properties("${name}" PROPERTIES RUN_SERIAL TRUE LABELS measures)
      endif()
    endforeach()
  endforeach()
endforeach()
