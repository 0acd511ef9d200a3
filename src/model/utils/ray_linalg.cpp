#include "model/utils/ray_linalg.hpp"

#include <cmath>
#include <limits>

#include "da3/error.hpp"

namespace da3::model::ray {

namespace {

double dot(const double* x, const double* y, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += x[i] * y[i];
  return s;
}

// (x, y) <- (c x - s y, s x + c y)
void rotate(double* x, double* y, int64_t n, double c, double s) {
  for (int64_t i = 0; i < n; ++i) {
    const double xi = x[i], yi = y[i];
    x[i] = c * xi - s * yi;
    y[i] = s * xi + c * yi;
  }
}

// Householder QR of the column-major rows x cols matrix `a` (rows > cols), leaving R
// (cols x cols, upper triangular) column-major in `r`. A = Q R has the singular values and right
// singular vectors of R, so the Jacobi sweeps below can run on the small R instead of on the
// tall A (the final refit has up to 16 000 rows): a stable reduction, unlike forming A^T A.
void householder_r(double* a, int64_t rows, int cols, double* r) {
  for (int j = 0; j < cols; ++j) {
    double* x = a + j * rows + j;  // column j from row j down
    const int64_t len = rows - j;
    const double norm = std::sqrt(dot(x, x, len));
    if (norm > 0.0) {
      // Reflect x onto -sign(x0) ||x|| e0 (the sign that avoids cancellation); v = x - that.
      const double alpha = x[0] > 0 ? -norm : norm;
      x[0] -= alpha;
      const double vv = dot(x, x, len);
      for (int k = j + 1; k < cols; ++k) {
        double* y = a + k * rows + j;
        const double f = 2.0 * dot(x, y, len) / vv;
        for (int64_t i = 0; i < len; ++i) y[i] -= f * x[i];
      }
      x[0] = alpha;  // the reflected column is alpha e0; below the diagonal is not read again
    }
    for (int i = 0; i < cols; ++i) r[j * cols + i] = i < j ? a[j * rows + i] : (i == j ? x[0] : 0.0);
  }
}

}  // namespace

void smallest_right_singular_vector(double* a, int64_t rows, int cols, double* v_out) {
  DA3_CHECK(cols >= 1 && cols <= 16 && rows >= 1, "ray pose: bad matrix size for the SVD");
  double r[16 * 16];
  if (rows > cols) {
    householder_r(a, rows, cols, r);
    a = r;
    rows = cols;
  }
  // V starts as the identity; every rotation applied to a pair of columns of A is applied to the
  // same pair of columns of V, so at the end A_original * V = A_rotated with orthogonal columns.
  double v[16 * 16] = {};
  for (int c = 0; c < cols; ++c) v[c * cols + c] = 1.0;  // column c of V at v[c * cols ...]

  // Rotate while some pair of columns is not yet orthogonal to working precision. Convergence is
  // quadratic once close; 60 sweeps is far more than a 9-column problem needs (typically 6-10).
  constexpr double eps = std::numeric_limits<double>::epsilon();
  for (int sweep = 0; sweep < 60; ++sweep) {
    bool rotated = false;
    for (int p = 0; p < cols - 1; ++p) {
      for (int q = p + 1; q < cols; ++q) {
        double* ap = a + p * rows;
        double* aq = a + q * rows;
        const double alpha = dot(ap, ap, rows), beta = dot(aq, aq, rows), gamma = dot(ap, aq, rows);
        if (gamma == 0.0 || std::abs(gamma) <= eps * std::sqrt(alpha * beta)) continue;
        // The rotation that makes the two columns orthogonal, taking the smaller angle
        // (|t| <= 1) for stability.
        const double zeta = (beta - alpha) / (2.0 * gamma);
        const double t = (zeta >= 0 ? 1.0 : -1.0) / (std::abs(zeta) + std::sqrt(1.0 + zeta * zeta));
        const double c = 1.0 / std::sqrt(1.0 + t * t), s = c * t;
        rotate(ap, aq, rows, c, s);
        rotate(v + p * cols, v + q * cols, cols, c, s);
        rotated = true;
      }
    }
    if (!rotated) break;
  }
  // The columns of A are now U * S: the singular values are their norms.
  int best = 0;
  double best_norm = std::numeric_limits<double>::infinity();
  for (int c = 0; c < cols; ++c) {
    const double n2 = dot(a + c * rows, a + c * rows, rows);
    if (n2 < best_norm) best_norm = n2, best = c;  // first of equal minima
  }
  for (int c = 0; c < cols; ++c) v_out[c] = v[best * cols + c];
}

void ql_decomposition3(const double a[9], double q[9], double l[9]) {
  // Columns of A are a_j = sum_{i >= j} L[i][j] q_i, so Gram-Schmidt from the LAST column
  // inwards yields Q and L directly with a positive diagonal. Each projection is done twice
  // ("twice is enough"), which keeps Q orthogonal to rounding even for ill-conditioned A.
  double col[3][3];  // col[j] = column j of A, then of Q
  for (int j = 0; j < 3; ++j)
    for (int r = 0; r < 3; ++r) col[j][r] = a[r * 3 + j];
  for (int i = 0; i < 9; ++i) l[i] = 0.0;
  for (int j = 2; j >= 0; --j) {
    for (int pass = 0; pass < 2; ++pass) {
      for (int i = j + 1; i < 3; ++i) {
        const double proj = dot(col[i], col[j], 3);
        l[i * 3 + j] += proj;
        for (int r = 0; r < 3; ++r) col[j][r] -= proj * col[i][r];
      }
    }
    const double norm = std::sqrt(dot(col[j], col[j], 3));
    l[j * 3 + j] = norm;
    // A singular A leaves a zero column; the reference's sign(0) = 0 zeroes that column of Q
    // and row of L too, so leave it at zero rather than divide by it.
    for (int r = 0; r < 3; ++r) col[j][r] = norm > 0.0 ? col[j][r] / norm : 0.0;
  }
  for (int r = 0; r < 3; ++r)
    for (int j = 0; j < 3; ++j) q[r * 3 + j] = col[j][r];
}

double det3(const double a[9]) {
  return a[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (a[3] * a[8] - a[5] * a[6]) + a[2] * (a[3] * a[7] - a[4] * a[6]);
}

}  // namespace da3::model::ray
