// fork + execvpe, with only async-signal-safe calls between them (the argument and environment
// arrays are built before the fork). Waiting polls waitpid every 50 ms so that a timeout or an
// interrupt is noticed promptly without a second thread.
#include "experiments/sweeps/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "core/atomic_file.h"
#include "core/error.h"

extern char** environ;

namespace trident {

namespace {

std::atomic<bool> g_interrupted{false};

void on_signal(int) { g_interrupted.store(true); }

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// Pointers into `strings`, null-terminated, for exec.
std::vector<char*> c_array(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// In the child, after fork: its own process group, SIGTERM when the parent dies, default signal
// dispositions, then exec. Only async-signal-safe calls.
[[noreturn]] void exec_child(char** argv, char** envp, int out_fd, int err_fd, pid_t parent) {
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent) ::_exit(127);  // the parent died before prctl took effect
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  const int null_fd = ::open("/dev/null", O_RDONLY);
  if (null_fd >= 0) ::dup2(null_fd, 0);
  ::dup2(out_fd, 1);
  ::dup2(err_fd, 2);
  ::execvpe(argv[0], argv, envp);
  const char msg[] = "trident sweep: cannot execute the command\n";
  (void)!::write(2, msg, sizeof msg - 1);
  ::_exit(127);
}

}  // namespace

double monotonic_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void install_interrupt_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

bool interrupted() { return g_interrupted.load(); }

std::vector<std::string> child_environment(const std::vector<std::pair<std::string, std::string>>& set) {
  const bool inside_mpi_job = std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMIX_RANK") != nullptr;
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    const bool mpi_identity = starts_with(name, "OMPI_") || starts_with(name, "PMIX_") || starts_with(name, "PRTE_") ||
                              starts_with(name, "PMI_");
    if (inside_mpi_job && mpi_identity && !starts_with(name, "OMPI_ALLOW_RUN_AS_ROOT")) continue;
    bool overridden = false;
    for (const auto& [k, v] : set) overridden = overridden || k == name;
    if (!overridden) env.push_back(entry);
  }
  for (const auto& [k, v] : set) env.push_back(k + "=" + v);
  return env;
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                           const std::string& log_path) {
  TRIDENT_CHECK(!argv.empty(), "ChildProcess: empty command");
  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  TRIDENT_CHECK(log_fd >= 0, "cannot open log file '", log_path, "': ", errno_text(errno));
  std::vector<std::string> args = argv, envs = env;
  std::vector<char*> c_args = c_array(args), c_env = c_array(envs);
  const pid_t parent = ::getpid();
  start_ = monotonic_seconds();
  const pid_t pid = ::fork();
  if (pid == 0) exec_child(c_args.data(), c_env.data(), log_fd, log_fd, parent);
  const int err = errno;
  ::close(log_fd);
  TRIDENT_CHECK(pid > 0, "cannot start '", argv[0], "': fork failed: ", errno_text(err));
  ::setpgid(pid, pid);  // also here, so the group exists before the parent might signal it
  pid_ = pid;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) stop();
}

void ChildProcess::stop() {
  ::kill(-pid_, SIGTERM);
  const double deadline = monotonic_seconds() + 10.0;
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (monotonic_seconds() > deadline) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(-pid_, SIGKILL);  // anything of the group still alive (ranks that ignored SIGTERM)
  pid_ = -1;
}

ChildResult ChildProcess::wait(double timeout_s) {
  ChildResult r;
  const double deadline = start_ + timeout_s;
  while (true) {
    int status = 0;
    const pid_t got = ::waitpid(pid_, &status, WNOHANG);
    if (got == pid_) {
      r.exit_code = exit_code_of(status);
      pid_ = -1;
      break;
    }
    TRIDENT_CHECK(got == 0 || errno == EINTR, "waitpid failed: ", errno_text(errno));
    if (interrupted() || monotonic_seconds() > deadline) {
      r.interrupted = interrupted();
      r.timed_out = !r.interrupted;
      stop();
      r.exit_code = r.timed_out ? 124 : 130;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  r.wall_s = monotonic_seconds() - start_;
  return r;
}

int run_and_capture(const std::vector<std::string>& argv, const std::vector<std::string>& env, double timeout_s,
                    std::string& out, std::string& err) {
  TRIDENT_CHECK(!argv.empty(), "run_and_capture: empty command");
  int out_pipe[2], err_pipe[2];
  TRIDENT_CHECK(::pipe2(out_pipe, O_CLOEXEC) == 0 && ::pipe2(err_pipe, O_CLOEXEC) == 0, "pipe failed: ",
                errno_text(errno));
  std::vector<std::string> args = argv, envs = env;
  std::vector<char*> c_args = c_array(args), c_env = c_array(envs);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) exec_child(c_args.data(), c_env.data(), out_pipe[1], err_pipe[1], parent);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (pid > 0) ::setpgid(pid, pid);
  if (pid < 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    TRIDENT_FAIL("cannot start '", argv[0], "': fork failed");
  }
  out.clear();
  err.clear();
  const double deadline = monotonic_seconds() + timeout_s;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  bool killed = false;
  while (open_fds > 0) {
    if (monotonic_seconds() > deadline && !killed) {
      ::kill(-pid, SIGKILL);
      killed = true;
    }
    if (::poll(fds, 2, 100) < 0 && errno != EINTR) break;
    for (pollfd& f : fds) {
      if (f.fd < 0 || !(f.revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      const ssize_t n = ::read(f.fd, buf, sizeof buf);
      if (n > 0) {
        (f.fd == out_pipe[0] ? out : err).append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(f.fd);
        f.fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (killed) {
    err += "\n(killed after " + std::to_string(static_cast<int>(timeout_s)) + " s)";
    return 124;
  }
  return exit_code_of(status);
}

}  // namespace trident
