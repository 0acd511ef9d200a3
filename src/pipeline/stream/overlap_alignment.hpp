#pragma once
// The Sim(3) that carries a new window into the stream's world frame, from the frames it
// shares with the frames already final (the previous window's last `overlap` frames). Both
// sides saw the same pixels of the same frames, so pixel (x, y) of frame i back-projected in the
// window's frame corresponds to the same pixel back-projected in the world frame: dense
// correspondences with no matching step. Each pair is weighted by both confidences; the
// cameras add their centres (as points) and their rotations (see estimate_sim3_robust).
#include <cstdint>
#include <vector>

#include "pipeline/stream/sim3.hpp"
#include "pipeline/stream/stream_frame.hpp"

namespace da3::stream {

struct AlignmentOptions {
  // Pixels sampled per overlap frame, on a regular grid (all pixels of a small frame).
  int points_per_frame = 4000;
  // Pixels whose confidence is below this percentile of their frame's (on either side) are not
  // used: DA3's low-confidence pixels are sky, edges and reflections, exactly where the two
  // windows disagree most.
  double conf_percentile = 30;
  RobustSim3Options robust;
};

struct SeamAlignment {
  Sim3 T;                     // window frame -> world frame
  RobustSim3Result fit;
  // After T, how far the window's overlap cameras are from the world's (the seam's jump):
  // the largest centre distance, in world units and as a fraction of the overlap's median
  // depth, and the largest rotation difference.
  double centre_error = 0, centre_error_rel = 0, rotation_error_deg = 0;
};

// world: the final frames of the overlap (world frame); window: the same frames as the new
// window predicted them (its frame), same order and size. Throws da3::Error when they do not
// match (index or size) or when too few confident pixels remain.
SeamAlignment align_overlap(const std::vector<StreamFrame>& world, const std::vector<const StreamFrame*>& window,
                            const AlignmentOptions& options);

}  // namespace da3::stream
