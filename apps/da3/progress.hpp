#pragma once
// What a long run shows while it works: on a terminal, one line on stderr rewritten in place
// (the scene, its stage, the elapsed time); off a terminal (a log, a pipe) nothing, so logs
// hold no carriage returns; with -q nothing either.
#include <chrono>
#include <string>

namespace da3::cli {

class Progress {
 public:
  // Shown when not `quiet` and stderr is a terminal.
  explicit Progress(bool quiet);
  ~Progress();  // ends a line left open, so an error message starts on a fresh one

  // The scene in work ("[2/5] photo.jpg", "scene 3"), kept until the next call.
  void scene(const std::string& label);
  // The stage in work ("forward: 4 views 504x378"): the line is redrawn.
  void stage(const std::string& what);
  // Ends the progress line, if one was drawn.
  void end();

  bool shown() const { return shown_; }
  double elapsed_s() const;

 private:
  bool shown_;
  bool open_ = false;
  std::string scene_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace da3::cli
