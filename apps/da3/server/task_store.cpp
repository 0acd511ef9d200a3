// See task_store.hpp.
#include "server/task_store.hpp"

#include <algorithm>
#include <new>
#include <random>

#include "da3/error.hpp"
#include "server/api_error.hpp"

namespace da3::server {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const char* task_state_name(TaskState s) {
  switch (s) {
    case TaskState::Queued: return "queued";
    case TaskState::Running: return "running";
    case TaskState::Done: return "done";
    case TaskState::Failed: return "failed";
  }
  return "?";
}

struct TaskStore::Task {
  std::string id;
  fs::path dir;
  TaskInput input;
  TaskState state = TaskState::Queued;
  std::string error_code, error;
  std::string stage = "queued";
  int done = 0, total = 3;
  std::vector<std::string> files;  // relative to dir/out, sorted
  Clock::time_point finished_at{};
  bool remove_when_finished = false;
};

namespace {

// Every regular file under `out`, relative to it, sorted: what GET .../files/ may serve.
std::vector<std::string> list_files(const fs::path& out) {
  std::vector<std::string> files;
  std::error_code ec;
  if (!fs::is_directory(out, ec)) return files;
  for (auto it = fs::recursive_directory_iterator(out, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    if (it->is_regular_file(ec)) files.push_back(fs::relative(it->path(), out, ec).generic_string());
  std::sort(files.begin(), files.end());
  return files;
}

void remove_dir(const fs::path& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace

TaskStore::TaskStore(fs::path results_dir, TaskLimits limits, TaskRunner runner)
    : results_dir_(std::move(results_dir)), limits_(limits), runner_(std::move(runner)) {
  fs::create_directories(results_dir_);
  worker_ = std::thread([this] { worker_loop(); });
}

TaskStore::~TaskStore() { shutdown(); }

std::string TaskStore::new_task_dir(fs::path& dir) {
  static thread_local std::mt19937_64 rng{std::random_device{}() ^ (uint64_t(std::random_device{}()) << 32)};
  for (;;) {
    char id[33];
    std::snprintf(id, sizeof id, "%016llx%016llx", static_cast<unsigned long long>(rng()),
                  static_cast<unsigned long long>(rng()));
    dir = results_dir_ / id;
    std::error_code ec;
    if (fs::create_directory(dir, ec)) return id;  // false: exists already (or cannot be made)
    if (ec) throw Error("cannot create the task folder " + dir.string() + ": " + ec.message());
  }
}

void TaskStore::submit(const std::string& id, TaskInput input) {
  std::unique_lock lock(mu_);
  const fs::path dir = results_dir_ / id;
  if (stopping_ || queue_.size() >= limits_.max_queue) {
    lock.unlock();
    remove_dir(dir);
    if (stopping_) throw ApiError(503, "shutting_down", "the server is shutting down");
    throw ApiError(503, "queue_full",
                   "the queue is full (" + std::to_string(limits_.max_queue) + " tasks waiting); retry later");
  }
  auto t = std::make_shared<Task>();
  t->id = id;
  t->dir = dir;
  t->input = std::move(input);
  tasks_[id] = t;
  queue_.push_back(id);
  cv_.notify_all();
}

nlohmann::json TaskStore::describe(const std::string& id) const {
  std::lock_guard lock(mu_);
  const auto it = tasks_.find(id);
  if (it == tasks_.end() || it->second->remove_when_finished) return nullptr;
  const Task& t = *it->second;
  nlohmann::json j = {{"id", t.id},
                      {"state", task_state_name(t.state)},
                      {"progress", {{"stage", t.stage}, {"done", t.done}, {"total", t.total}}},
                      {"files", t.files}};
  if (t.state == TaskState::Queued) {
    const auto pos = std::find(queue_.begin(), queue_.end(), id);
    j["queue_position"] = pos - queue_.begin();
  }
  if (t.state == TaskState::Failed) j["error"] = {{"code", t.error_code}, {"message", t.error}};
  return j;
}

bool TaskStore::done_files(const std::string& id, fs::path& out_dir, std::vector<std::string>& files) const {
  std::lock_guard lock(mu_);
  const auto it = tasks_.find(id);
  if (it == tasks_.end() || it->second->state != TaskState::Done || it->second->remove_when_finished) return false;
  out_dir = it->second->dir / "out";
  files = it->second->files;
  return true;
}

bool TaskStore::wait_finished(const std::string& id, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] {
    const auto it = tasks_.find(id);
    return it == tasks_.end() || it->second->state == TaskState::Done || it->second->state == TaskState::Failed;
  }) && tasks_.count(id);
}

bool TaskStore::remove(const std::string& id) {
  std::unique_lock lock(mu_);
  const auto it = tasks_.find(id);
  if (it == tasks_.end() || it->second->remove_when_finished) return false;
  if (it->second->state == TaskState::Running) {
    // The forward pass cannot be interrupted; the worker drops the task when it returns.
    it->second->remove_when_finished = true;
    return true;
  }
  queue_.erase(std::remove(queue_.begin(), queue_.end(), id), queue_.end());
  const fs::path dir = it->second->dir;
  tasks_.erase(it);
  lock.unlock();
  remove_dir(dir);
  return true;
}

size_t TaskStore::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

bool TaskStore::running() const {
  std::lock_guard lock(mu_);
  for (const auto& [id, t] : tasks_)
    if (t->state == TaskState::Running) return true;
  return false;
}

size_t TaskStore::stored() const {
  std::lock_guard lock(mu_);
  return tasks_.size();
}

void TaskStore::shutdown() {
  stop_accepting();
  if (worker_.joinable()) worker_.join();
}

void TaskStore::stop_accepting() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (const auto& id : queue_) {
      Task& t = *tasks_.at(id);
      t.state = TaskState::Failed;
      t.error_code = "shutting_down";
      t.error = "the server shut down before this task ran";
      t.finished_at = Clock::now();
      t.input = {};
      remove_dir(t.dir);  // its uploads; a --results-dir outlives the process
    }
    queue_.clear();
    cv_.notify_all();
  }
}

void TaskStore::erase_locked(const std::string& id) {
  const auto it = tasks_.find(id);
  if (it == tasks_.end()) return;
  remove_dir(it->second->dir);
  tasks_.erase(it);
}

void TaskStore::expire_locked(Clock::time_point now) {
  std::vector<std::pair<Clock::time_point, std::string>> finished;
  for (const auto& [id, t] : tasks_)
    if (t->state == TaskState::Done || t->state == TaskState::Failed) finished.emplace_back(t->finished_at, id);
  std::sort(finished.begin(), finished.end());
  size_t keep = finished.size();
  for (const auto& [at, id] : finished) {
    if (now - at > limits_.result_ttl || keep > limits_.max_results) {
      erase_locked(id);
      --keep;
    }
  }
}

void TaskStore::worker_loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    // Wakes at least every second to delete expired results even when idle.
    cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_ || !queue_.empty(); });
    expire_locked(Clock::now());
    if (queue_.empty()) {
      if (stopping_) return;
      continue;
    }
    const std::shared_ptr<Task> t = tasks_.at(queue_.front());
    queue_.pop_front();
    t->state = TaskState::Running;
    t->stage = "preprocess";
    lock.unlock();

    std::string code, message;
    try {
      runner_(t->input, t->dir / "out", [&](const std::string& stage, int done, int total) {
        std::lock_guard g(mu_);
        t->stage = stage;
        t->done = done;
        t->total = total;
      });
    } catch (const da3::Error& e) {  // bad image, bad poses, option the model refuses
      code = "inference_failed";
      message = e.what();
    } catch (const std::bad_alloc&) {
      code = "out_of_memory";
      message = "out of memory (fewer views or a lower process_res may fit)";
    } catch (const std::exception& e) {
      code = "internal";
      message = e.what();
    }
    std::error_code ec;
    fs::remove_all(t->dir / "inputs", ec);  // the uploads are not needed any more
    std::vector<std::string> files = code.empty() ? list_files(t->dir / "out") : std::vector<std::string>{};

    lock.lock();
    t->input = {};
    t->finished_at = Clock::now();
    if (code.empty()) {
      t->state = TaskState::Done;
      t->stage = "done";
      t->done = t->total;
      t->files = std::move(files);
    } else {
      t->state = TaskState::Failed;
      t->error_code = code;
      t->error = message;
      remove_dir(t->dir / "out");
    }
    if (t->remove_when_finished) erase_locked(t->id);
    cv_.notify_all();
  }
}

}  // namespace da3::server
