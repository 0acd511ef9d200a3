#pragma once
// The small dense linear algebra the ray-pose path needs, in double precision and without a
// library: the null vector of a tall (rows x 9) homography system (the reference's
// torch.linalg.svd(A) -> Vh[-1]) and the QL decomposition of a 3x3 matrix (ray_utils.py
// ql_decomposition). Double keeps our own rounding far below the float32 reference's, so
// differences to it are the reference's noise, not ours.
#include <cstdint>

namespace da3::model::ray {

// Right singular vector of the smallest singular value of the rows x cols matrix whose columns
// are stored one after another (`a[c * rows + r]`, column-major), by one-sided Jacobi (Hestenes)
// rotations (after a Householder QR when rows > cols). `a` is overwritten. The sign of the result is
// arbitrary, as LAPACK's is: callers normalise it away. cols <= 16.
void smallest_right_singular_vector(double* a, int64_t rows, int cols, double* v_out);

// A = Q L with Q orthogonal and L lower triangular with a non-negative diagonal, both 3x3
// row-major. This is the unique factorisation the reference arrives at (QR of the
// column-reversed matrix, then signs flipped so diag(L) >= 0) whenever A is invertible.
void ql_decomposition3(const double a[9], double q[9], double l[9]);

double det3(const double a[9]);

}  // namespace da3::model::ray
