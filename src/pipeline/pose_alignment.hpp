#pragma once
// Sim(3) alignment of camera centres (core/sim3.hpp's umeyama_evo, the reference's evo fit),
// with the RANSAC wrapper of the reference's utils/pose_align.py.
#include <cstdint>
#include <vector>

#include "core/sim3.hpp"

namespace da3::pipeline {

using da3::Sim3;
using da3::Vec3;

// y ≈ s R x + t in the least-squares sense. Throws da3::Error when the points are degenerate
// (fewer than 2 non-zero singular values of the covariance, e.g. < 3 points or collinear).
Sim3 umeyama(const std::vector<Vec3>& x, const std::vector<Vec3>& y);

// align_poses_umeyama(ext_ref, ext_est, ransac=...) of the reference: the camera centres of
// est aligned to those of ref. ransac: up to 10 random subsets of max(3, (N+1)/2) views, the
// best by inliers (centre error <= the median nearest-neighbour error after a first fit),
// refitted on its inliers. The reference draws subsets from numpy's default_rng(42); we draw
// from std::mt19937_64(seed), so with RANSAC the result is equivalent, not identical.
Sim3 align_camera_centres(const std::vector<Vec3>& ref, const std::vector<Vec3>& est, bool ransac, uint64_t seed);

}  // namespace da3::pipeline
