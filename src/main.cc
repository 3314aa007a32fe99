// ec2-netcfg: parse the command line, run one command, exit with its status.
#include <iostream>

#include "app/app.h"

int main(int argc, char** argv) {
  ec2nc::Options opts;
  std::string error;
  if (!ec2nc::parse_args(argc, argv, &opts, &error)) {
    std::cerr << "ec2-netcfg: " << error << "\nTry 'ec2-netcfg --help'.\n";
    return ec2nc::kExitUsage;
  }
  return ec2nc::run(opts, std::cout, std::cerr);
}
