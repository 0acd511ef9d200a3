#!/usr/bin/env python3
# A numpy model of attention_flash_sm90.cu's data path, written from the PTX ISA's layouts as the
# kernel reads them: TMA's 128-byte swizzle placement of Q / K / V tiles, the wgmma shared-memory
# descriptors (K-major for Q and K, MN-major for the transposed V), which thread holds which
# accumulator element (m64nNk16 D fragments) and which A-operand element (P from registers), the
# key-tile order (the partial tile first), masking, the online softmax and the strided store. It
# checks the kernel's index arithmetic against exact attention; it cannot check the ISA itself —
# only a GPU run (scripts/gpu-check.sh's sm90 stage) does that. Keep it in step with the kernel:
# a change of tile shapes, descriptor fields or fragment handling there belongs here too.
#
#   tools/reference/.venv/bin/python src/kernels/cuda/emulate_sm90_datapath.py    (needs numpy; ~1 min)
#
# Exits 1 if any case is off by more than 1e-10.
import numpy as np
def swz(addr): return addr ^ (((addr >> 7) & 7) << 4)
def tma_place(smem, base, tile):  # tile: rows x 64 (fp values); element (r,c) -> byte r*128 + 2c, swizzled
    rows = tile.shape[0]
    for r in range(rows):
        for c in range(64):
            smem[swz(base + r*128 + 2*c)//2] = tile[r, c]
def desc(addr, sbo=1024): return (addr >> 4) | (1 << 16) | ((sbo >> 4) << 32) | (1 << 62)
def dec(d): return (d & 0x3FFF) << 4, ((d >> 32) & 0x3FFF) << 4
def read_kmajor(smem, d, rows):  # rows x 16 (k) from a K-major SW128 descriptor
    start, sbo = dec(d); out = np.zeros((rows, 16))
    for m in range(rows):
        for k in range(16):
            out[m, k] = smem[swz(start + (m//8)*sbo + (m%8)*128 + 2*k)//2]
    return out
def read_mnmajor(smem, d, n):  # 16 (k) x n from an MN-major SW128 descriptor (n = 64: one atom)
    start, sbo = dec(d); out = np.zeros((16, n))
    for k in range(16):
        for j in range(n):
            out[k, j] = smem[swz(start + (k//8)*sbo + (k%8)*128 + 2*j)//2]
    return out
def acc_coords(lt, idx):  # D fragment: thread lt (0..127) register idx -> (row, col)
    w, lane = lt//32, lt%32; g, t = lane//4, lane%4; i, e = idx//4, idx%4
    return 16*w + g + (8 if e >= 2 else 0), 8*i + 2*t + (e & 1)
def a_coords(lt, reg, half):  # A fragment (registers): reg 0..3, half 0/1 -> (row, k)
    w, lane = lt//32, lt%32; g, t = lane//4, lane%4
    row = 16*w + g + (8 if reg in (1, 3) else 0); k = 2*t + half + (8 if reg >= 2 else 0)
    return row, k
def run(nq, nk, BM, BN, S, seed):
    rng = np.random.default_rng(seed); D = 64
    Q = rng.standard_normal((nq, D)); K = rng.standard_normal((nk, D)); V = rng.standard_normal((nk, D))
    scale = 1/np.sqrt(D); sl2 = scale*np.log2(np.e)
    out = np.full((nq, D), np.nan)
    n_tiles = (nk + BN - 1)//BN; key_tile = lambda j: n_tiles - 1 if j == 0 else j - 1
    QB, KVB = BM*128, BN*128
    for m0 in range(0, nq, BM):
        smem = np.zeros((1024 + QB + 2*S*KVB)//2 + 64)
        base = 0  # 1024-aligned
        sq, sk = base, base + QB; sv = sk + S*KVB
        qt = np.zeros((BM, D)); qq = Q[m0:m0+BM]; qt[:len(qq)] = qq
        tma_place(smem, sq, qt)
        def load(j):
            s = j % S; n0 = key_tile(j)*BN
            kt = np.zeros((BN, D)); kk = K[n0:n0+BN]; kt[:len(kk)] = kk
            vt = np.zeros((BN, D)); vv = V[n0:n0+BN]; vt[:len(vv)] = vv
            tma_place(smem, sk + s*KVB, kt); tma_place(smem, sv + s*KVB, vt)
        for cw in range(BM//64):
            qd = desc(sq + cw*64*128)
            o = np.zeros((128, 32)); m_lo = np.full(128, -np.inf); m_hi = m_lo.copy(); l_lo = np.zeros(128); l_hi = np.zeros(128)
            pf_prev = None; vd_prev = None
            for j in range(n_tiles):
                load(j)  # (the ring guarantees the stage holds tile j when read)
                s = j % S; kd = desc(sk + s*KVB)
                # S = Q K^T: 4 k-steps, desc + 2*kk
                Sm = np.zeros((64, BN))
                for kk in range(4):
                    A = read_kmajor(smem, qd + 2*kk, 64); B = read_kmajor(smem, kd + 2*kk, BN)
                    Sm += A @ B.T
                # the P_{j-1} V_{j-1} product (before this softmax, as in the kernel)
                if pf_prev is not None: o = pv(smem, o, pf_prev, vd_prev, BN)
                sacc = np.array([[Sm[acc_coords(lt, i)] for i in range(BN//2)] for lt in range(128)])
                t_of = np.array([(lt % 32) % 4 for lt in range(128)])
                if j == 0 and nk % BN != 0:
                    key0 = key_tile(0)*BN
                    for lt in range(128):
                        last = nk - key0 - 2*t_of[lt]
                        for i in range(BN//8):
                            if not 8*i < last: sacc[lt, 4*i] = sacc[lt, 4*i+2] = -np.inf
                            if not 8*i+1 < last: sacc[lt, 4*i+1] = sacc[lt, 4*i+3] = -np.inf
                # online softmax, rows g (lo) and g+8 (hi), max over the 4 owner lanes
                bm_lo = np.max(sacc[:, [4*i + e for i in range(BN//8) for e in (0, 1)]], axis=1)
                bm_hi = np.max(sacc[:, [4*i + e for i in range(BN//8) for e in (2, 3)]], axis=1)
                bm_lo = bm_lo.reshape(32, 4).max(1).repeat(4); bm_hi = bm_hi.reshape(32, 4).max(1).repeat(4)
                mn_lo = np.maximum(m_lo, bm_lo); mn_hi = np.maximum(m_hi, bm_hi)
                a_lo = np.exp2((m_lo - mn_lo)*sl2); a_hi = np.exp2((m_hi - mn_hi)*sl2)
                m_lo, m_hi = mn_lo, mn_hi
                for i in range(BN//8):
                    for e in range(4):
                        off = (mn_lo if e < 2 else mn_hi)*sl2
                        sacc[:, 4*i+e] = np.exp2(sacc[:, 4*i+e]*sl2 - off)
                sum_lo = sacc[:, [4*i+e for i in range(BN//8) for e in (0, 1)]].sum(1)
                sum_hi = sacc[:, [4*i+e for i in range(BN//8) for e in (2, 3)]].sum(1)
                l_lo = l_lo*a_lo + sum_lo; l_hi = l_hi*a_hi + sum_hi
                # pack_p
                pf = np.zeros((128, BN//16, 4, 2))
                for kk in range(BN//16):
                    for r in range(4):
                        pf[:, kk, r, 0] = sacc[:, 8*kk + 2*r]; pf[:, kk, r, 1] = sacc[:, 8*kk + 2*r + 1]
                if j > 0:  # O rescale (after P_{j-1} V_{j-1})
                    for i in range(8):
                        o[:, 4*i] *= a_lo; o[:, 4*i+1] *= a_lo; o[:, 4*i+2] *= a_hi; o[:, 4*i+3] *= a_hi
                pf_prev = pf; vd_prev = desc(sv + s*KVB)
            o = pv(smem, o, pf_prev, vd_prev, BN)
            L_lo = l_lo.reshape(32, 4).sum(1).repeat(4); L_hi = l_hi.reshape(32, 4).sum(1).repeat(4)
            for lt in range(128):
                w, lane = lt//32, lt%32; g, t = lane//4, lane%4
                i_lo = m0 + 64*cw + 16*w + g; i_hi = i_lo + 8
                for i in range(8):
                    d = 8*i + 2*t
                    if i_lo < nq: out[i_lo, d] = o[lt, 4*i]/L_lo[lt]; out[i_lo, d+1] = o[lt, 4*i+1]/L_lo[lt]
                    if i_hi < nq: out[i_hi, d] = o[lt, 4*i+2]/L_hi[lt]; out[i_hi, d+1] = o[lt, 4*i+3]/L_hi[lt]
    Sref = Q @ K.T * scale; P = np.exp(Sref - Sref.max(1, keepdims=True)); ref = (P/P.sum(1, keepdims=True)) @ V
    return np.abs(out - ref).max()
def pv(smem, o, pf, vd, BN):
    # rebuild the A matrix (64 x 16 per k-step) from the register fragments, B from the MN-major descriptor
    Om = np.zeros((64, 64))
    for kk in range(BN//16):
        A = np.zeros((64, 16))
        for lt in range(128):
            for r in range(4):
                for h in range(2):
                    A[a_coords(lt, r, h)] = pf[lt, kk, r, h]
        B = read_mnmajor(smem, vd + 128*kk, 64)
        Om += A @ B
    o = o.copy()
    for lt in range(128):
        for i in range(32): o[lt, i] += Om[acc_coords(lt, i)]
    return o
import sys
worst = 0.0
for (nq, nk, BM, BN, S) in [(70, 150, 128, 128, 2), (65, 65, 128, 176, 2), (130, 300, 192, 128, 2), (1, 1, 128, 128, 3), (64, 256, 128, 128, 3)]:
    err = run(nq, nk, BM, BN, S, 1)
    worst = max(worst, err)
    print(f"nq={nq} nk={nk} tile={BM}x{BN}x{S}: max abs err {err:.3g}"); sys.stdout.flush()
sys.exit(0 if worst <= 1e-10 else 1)
