// SPDX-License-Identifier: Apache-2.0
// DaemonProcess: the real `sluiced` binary run by an integration test: fork/exec on a data
// directory with loopback listeners on free ports, stderr captured to a file, the ports parsed
// from the structured `event=ready` line, SIGTERM/SIGKILL, restart on the same directory.
// Every wait is bounded. See tests/integration/README.md.
#pragma once

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <iterator>
#include <optional>
#include <signal.h>
#include <string>
#include <string_view>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#ifndef SLUICED_BIN
#error "SLUICED_BIN must name the sluiced executable (tests/integration/CMakeLists.txt)"
#endif

namespace sluice::integration {

// Generous: a sanitizer build recovering a killed daemon's preallocated segments is slow.
inline constexpr std::chrono::milliseconds kReadyTimeout{30'000};
// Engine::Stop gives in-flight work 10 s; a clean stop is far quicker.
inline constexpr std::chrono::milliseconds kStopTimeout{15'000};

// Lifecycle: Start() forks and execs; WaitReady() blocks (bounded) until the daemon logs
// `event=ready` (or exits first); Terminate()/Kill() end it and reap it. Start() again restarts
// on the same data directory, with other flags if wanted. The destructor SIGKILLs and reaps a
// daemon still running, so a failing test never leaks a process; the child also gets SIGKILL
// if the forking thread dies (PR_SET_PDEATHSIG). Not thread-safe; one test thread drives it.
// Call the signalling methods from the thread that called Start().
class DaemonProcess {
 public:
  // `data_dir` need not exist (the daemon creates it). `flags` are added to every start after
  // the fixed ones: --data-dir, --native-addr/--kinesis-addr/--metrics-addr 127.0.0.1:0 and
  // --threads 2. Run n's stderr (and stdout) goes to `<data_dir>.stderr.<n>`, beside the data
  // directory so that it never mixes with the daemon's files.
  explicit DaemonProcess(std::string data_dir, std::vector<std::string> flags = {})
      : data_dir_(std::move(data_dir)), flags_(std::move(flags)) {}
  ~DaemonProcess() {
    if (::testing::Test::HasFailure() && runs_ > 0) {
      std::fprintf(stderr, "--- sluiced stderr (run %d, %s) ---\n%s--- end ---\n", runs_,
                   StderrPath().c_str(), Stderr().c_str());
    }
    Kill();
  }
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  // Forks and execs sluiced with the fixed flags, the constructor's and `extra`. Fails only
  // when the daemon is already running or fork fails; an exec failure shows as exit code 127.
  ::testing::AssertionResult Start(const std::vector<std::string>& extra = {}) {
    if (pid_ > 0) return ::testing::AssertionFailure() << "sluiced is already running";
    native_port_ = metrics_port_ = 0;
    ++runs_;
    std::vector<std::string> args = {SLUICED_BIN, "--data-dir", data_dir_, "--threads", "2"};
    for (const char* listener : {"--native-addr", "--kinesis-addr", "--metrics-addr"}) {
      args.insert(args.end(), {listener, "127.0.0.1:0"});
    }
    args.insert(args.end(), flags_.begin(), flags_.end());
    args.insert(args.end(), extra.begin(), extra.end());
    // Everything the child needs is prepared before fork: between fork and exec a
    // multi-threaded parent's child may only make async-signal-safe calls.
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string log_path = StderrPath();
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) return ::testing::AssertionFailure() << "fork: " << std::strerror(errno);
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(126);  // The parent died before prctl.
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0) ::_exit(125);
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    pid_ = pid;
    return ::testing::AssertionSuccess();
  }

  // Waits until the current run logs `event=ready` and parses its ports. Fails (with the
  // daemon's stderr) when it exits first or does not get ready in time.
  ::testing::AssertionResult WaitReady(std::chrono::milliseconds timeout = kReadyTimeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (pid_ > 0) {
      const std::string err = Stderr();
      const size_t at = err.find(" event=ready ");
      const size_t eol = at == std::string::npos ? at : err.find('\n', at);
      if (eol != std::string::npos) {  // A whole ready line.
        const std::string line = err.substr(at, eol - at);
        native_port_ = PortOf(line, "native_addr=");
        metrics_port_ = PortOf(line, "metrics_addr=");
        if (native_port_ == 0 || metrics_port_ == 0) {
          return ::testing::AssertionFailure() << "cannot parse the ports of: " << line;
        }
        return ::testing::AssertionSuccess();
      }
      if (std::optional<int> code = Reap(/*block=*/false)) {
        return ::testing::AssertionFailure()
               << "sluiced exited with " << *code << " before ready:\n"
               << err;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        return ::testing::AssertionFailure()
               << "sluiced not ready after " << timeout.count() << " ms:\n"
               << err;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return ::testing::AssertionFailure() << "sluiced is not running";
  }

  ::testing::AssertionResult StartAndWaitReady(const std::vector<std::string>& extra = {}) {
    if (auto started = Start(extra); !started) return started;
    return WaitReady();
  }

  // The exit code of the current run once it has exited (128 + signal number when killed by a
  // signal, as a shell reports it), or nullopt if it is still running after `timeout`.
  std::optional<int> WaitExit(std::chrono::milliseconds timeout = kStopTimeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (pid_ <= 0) return last_exit_;
      if (std::optional<int> code = Reap(/*block=*/false)) return code;
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  // Sends `sig` to the running daemon (no-op when it is not running).
  void Signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }

  // SIGTERM, then waits for the exit code. A daemon still running after `timeout` is
  // SIGKILLed and nullopt returned.
  std::optional<int> Terminate(std::chrono::milliseconds timeout = kStopTimeout) {
    if (pid_ <= 0) return last_exit_;
    Signal(SIGTERM);
    std::optional<int> code = WaitExit(timeout);
    if (!code) Kill();
    return code;
  }

  // SIGKILL and reap; no-op when not running.
  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    Reap(/*block=*/true);
  }

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // Ports of the current run, once WaitReady succeeded.
  uint16_t native_port() const { return native_port_; }
  uint16_t metrics_port() const { return metrics_port_; }
  const std::string& data_dir() const { return data_dir_; }
  std::string StderrPath() const { return data_dir_ + ".stderr." + std::to_string(runs_); }
  // Everything the current (or last) run wrote to stderr so far.
  std::string Stderr() const {
    std::ifstream in(StderrPath(), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

 private:
  // The port after `key` in a logfmt line ("native_addr=127.0.0.1:40125"), or 0.
  static uint16_t PortOf(const std::string& line, std::string_view key) {
    size_t at = line.find(key);
    if (at == std::string::npos) return 0;
    const size_t end = line.find(' ', at);
    const std::string addr = line.substr(
        at + key.size(), end == std::string::npos ? std::string::npos : end - at - key.size());
    const size_t colon = addr.rfind(':');
    if (colon == std::string::npos) return 0;
    const long port = std::strtol(addr.c_str() + colon + 1, nullptr, 10);
    return port > 0 && port <= 65535 ? static_cast<uint16_t>(port) : 0;
  }

  // Reaps the child if it has exited (or, with `block`, once it does) and returns its code.
  std::optional<int> Reap(bool block) {
    int status = 0;
    pid_t r;
    do {
      r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == 0) return std::nullopt;
    pid_ = -1;
    if (r < 0) {
      last_exit_ = -1;
    } else if (WIFEXITED(status)) {
      last_exit_ = WEXITSTATUS(status);
    } else {
      last_exit_ = 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    }
    return last_exit_;
  }

  const std::string data_dir_;
  const std::vector<std::string> flags_;
  pid_t pid_ = -1;
  int runs_ = 0;
  std::optional<int> last_exit_;
  uint16_t native_port_ = 0;
  uint16_t metrics_port_ = 0;
};

}  // namespace sluice::integration
