// Catch2's main(), compiled once for every test binary (outpost_catch_main): the runner is the
// most expensive translation unit of a test, and each binary used to compile its own copy.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
