#pragma once
// The tasks of `da3 serve`: a bounded queue, one worker thread that runs them one at a time (the
// model is one, and one forward already uses every core), and finished results kept on disk
// until they are older than the TTL, deleted, or evicted by newer ones.
//
// Each task owns a folder <results_dir>/<id>/ with inputs/ (the uploads, removed once the task
// ran) and out/ (the exports, what GET .../files/ serves).
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "da3/pipeline.hpp"
#include "server/task_options.hpp"

namespace da3::server {

enum class TaskState { Queued, Running, Done, Failed };
const char* task_state_name(TaskState s);

// What the worker needs to run a task: the views (files under the task's inputs/), optional
// cameras and the options.
struct TaskInput {
  std::vector<std::string> image_paths;
  CameraInputs cameras;
  TaskOptions options;
};

// Runs one task: writes its exports under `out_dir`, reports stages through `progress`.
using ProgressFn = std::function<void(const std::string& stage, int done, int total)>;
using TaskRunner = std::function<void(const TaskInput&, const std::filesystem::path& out_dir, const ProgressFn&)>;

struct TaskLimits {
  size_t max_queue = 16;                       // tasks waiting (the running one not counted)
  size_t max_results = 256;                    // finished tasks kept; the oldest go first
  std::chrono::seconds result_ttl{3600};       // finished tasks older than this are deleted
};

class TaskStore {
 public:
  TaskStore(std::filesystem::path results_dir, TaskLimits limits, TaskRunner runner);
  ~TaskStore();  // shutdown() if not yet done

  // A fresh id and its (empty, private) folder, for the caller to write inputs into before
  // submit(). Ids are 32 random hex digits: not guessable from another client's.
  std::string new_task_dir(std::filesystem::path& dir);

  // Queues the task. ApiError 503 (code queue_full / shutting_down) when it cannot be queued;
  // the folder is then removed.
  void submit(const std::string& id, TaskInput input);

  // The task as JSON (id, state, error, progress, files); nullopt-like null if unknown.
  nlohmann::json describe(const std::string& id) const;
  // The task's out/ folder and file list if it is done; false if unknown or not done.
  bool done_files(const std::string& id, std::filesystem::path& out_dir, std::vector<std::string>& files) const;
  // Waits until the task is done or failed (or `timeout` passed); false if unknown.
  bool wait_finished(const std::string& id, std::chrono::milliseconds timeout) const;
  // Removes a queued or finished task at once; a running one is removed when its run ends.
  // False if unknown.
  bool remove(const std::string& id);

  size_t queued() const;
  bool running() const;
  size_t stored() const;

  // Stops taking tasks and fails the queued ones (code shutting_down, uploads removed); the
  // running one goes on. Idempotent, callable from any thread.
  void stop_accepting();
  // stop_accepting(), then waits for the running task and joins the worker. Idempotent.
  void shutdown();

 private:
  struct Task;
  void worker_loop();
  void expire_locked(std::chrono::steady_clock::time_point now);
  void erase_locked(const std::string& id);

  std::filesystem::path results_dir_;
  TaskLimits limits_;
  TaskRunner runner_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;  // queue changed, a task finished, or shutdown
  std::map<std::string, std::shared_ptr<Task>> tasks_;
  std::deque<std::string> queue_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace da3::server
