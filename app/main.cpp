#include <string>
#include <vector>

#include "app/cli.hpp"

int main(int argc, char** argv) {
  return obsgate::app::RunCli(std::vector<std::string>(argv + 1, argv + argc));
}
