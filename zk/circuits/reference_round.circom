pragma circom 2.1.0;

// The root-of-trust round circuit: exactly zk/protocol/reference_rule.py's reference_round
// (its module docstring is the rule), checked over the trainers' committed sketches and the
// committed reference sketch r. docs/reference_circuit.md has the public-input layout, every
// range and the constraint counts. ReferenceRound(N, K, H_NUM, H_DEN): N slots (N <= 42: the
// order's 6N bits fit one field element), sketches of K values, the utility's curvature
// h = H_NUM / H_DEN fixed when the circuit is generated.
//
// Public inputs, in this order (the order the Groth16 verifier takes them):
//   commitments[N]        each slot's stored sketch commitment; 0 = the slot has none
//   referenceCommitment   SketchCommitment(K) of r with its salt
//   order                 bits 6i .. 6i+5: slot i's rank among the round's submissions (0 = first)
//   marks                 bit i: slot i flagged; bit N + i: slot i rejected;
//                         bits 2N .. 2N+31: h_num; bits 2N+32 .. 2N+63: h_den (= H_NUM, H_DEN)
//   params                γ_num | γ_den << 32 | β_num << 64 | β_den << 96 | δ_num << 128 | δ_den << 160
//   packedScores[(N+1)/2] score[2q] + score[2q+1] * 2^126
//   aggregateCommitment   AggregateCommitment(K) of g
// Private inputs: sketch[N][K], salt[N] (zeros outside A), reference[K], referenceSalt, and the
// hints aggregate[K], remainder[K] (g and T mod c), quotient[N], scoreRemainder[N] (the one
// division N_i = D_c * quotient_i + scoreRemainder_i per slot of G; zeros outside G).
//
// The main component's file defines referenceScoreConstant(c, t) (zk/reference_circuit.py
// writes it from score_constants(c, H_NUM, H_DEN)): t = 0 .. 5 the integer coefficients of
// (a_i, A_G, G_ii, R_i, D_G, T_G), t = 6 the denominator D(c, h), for c = 0 .. N.
//
// Include path: zk/circuits and a folder holding circomlib/circuits (circomlib 2.0.5).

include "circomlib/circuits/bitify.circom";
include "circomlib/circuits/comparators.circom";
include "round.circom";

// in, read as a signed integer in [-2^VB, 2^VB): out = 1 when in > 0. Needs |in| < 2^VB.
template IsPositive(VB) {
    signal input in;
    signal output out;
    component bits = Num2Bits(VB + 1);
    bits.in <== in - 1 + (1 << VB);
    out <== bits.out[VB];
}

// ⟨x, y⟩ of two K-vectors of signals.
template Dot(K) {
    signal input x[K];
    signal input y[K];
    signal output out;
    signal p[K];
    var sum = 0;
    for (var j = 0; j < K; j++) {
        p[j] <== x[j] * y[j];
        sum += p[j];
    }
    out <== sum;
}

// out = 1 when lhs * lm < rhs * rm, all non-negative: lhs, rhs < 2^XB, lm, rm < 2^MB.
template ScaledLess(XB, MB) {
    signal input lhs;
    signal input lm;
    signal input rhs;
    signal input rm;
    signal output out;
    signal l;
    signal r;
    l <== lhs * lm;
    r <== rhs * rm;
    component lt = LessThan(XB + MB);
    lt.in[0] <== l;
    lt.in[1] <== r;
    out <== lt.out;
}

// The six 32-bit parameter parts of `params`, and h's parts from `marks` (checked = H).
template ReferenceParams(N, H_NUM, H_DEN) {
    signal input marks;
    signal input params;
    signal output flagBit[N];
    signal output rejectBit[N];
    signal output part[6];        // γ_num, γ_den, β_num, β_den, δ_num, δ_den
    signal output square[6];      // their squares
    component mb = Num2Bits(2 * N + 64);
    mb.in <== marks;
    var hNum = 0;
    var hDen = 0;
    for (var b = 0; b < 32; b++) {
        hNum += mb.out[2 * N + b] * (1 << b);
        hDen += mb.out[2 * N + 32 + b] * (1 << b);
    }
    hNum === H_NUM;
    hDen === H_DEN;
    for (var i = 0; i < N; i++) {
        flagBit[i] <== mb.out[i];
        rejectBit[i] <== mb.out[N + i];
    }
    component pb = Num2Bits(192);
    pb.in <== params;
    component nonzero[5];
    for (var t = 0; t < 6; t++) {
        var v = 0;
        for (var b = 0; b < 32; b++) {
            v += pb.out[32 * t + b] * (1 << b);
        }
        part[t] <== v;
        square[t] <== part[t] * part[t];
    }
    for (var t = 0; t < 5; t++) {  // every part but γ_num is at least 1 (ReferenceRuleParams)
        nonzero[t] = StrictIsZero();
        nonzero[t].in <== part[t + 1];
        nonzero[t].out === 0;
    }
}

// The N 6-bit ranks of `order` (slot i's rank among the round's submissions, bits 6i .. 6i+5).
template OrderRanks(N) {
    signal input order;
    signal output rank[N];
    component bits = Num2Bits(6 * N);
    bits.in <== order;
    for (var i = 0; i < N; i++) {
        var v = 0;
        for (var b = 0; b < 6; b++) {
            v += bits.out[6 * i + b] * (1 << b);
        }
        rank[i] <== v;
    }
}

// Per slot: flagged by MISALIGNED, OVERSIZED or DUPLICATE (any of them; the rule keeps the
// first as the reason, the circuit only needs the bit). Inputs are the slot values already
// computed: a_i, n_i, ρ, the Gram matrix off the diagonal, the parameters and the ranks. A
// duplicate pair (i, j) flags only its later-ranked member (j on equal ranks, which the chain
// never gives two submissions).
template ReferenceFlags(N, AB) {
    signal input active[N];
    signal input rank[N];         // 6-bit, from OrderRanks
    signal input align[N];
    signal input norm[N];
    signal input gram[N][N];      // only i < j is read
    signal input rho;
    signal input part[6];
    signal input square[6];
    signal output flag[N];

    component rhoZero = StrictIsZero();
    rhoZero.in <== rho;
    component dupOn = LessThan(32);  // δ < 1
    dupOn.in[0] <== part[4];
    dupOn.in[1] <== part[5];
    component pos[N];
    component cosLow[N];
    component big[N];
    signal aSq[N];
    signal nRho[N];
    for (var i = 0; i < N; i++) {
        pos[i] = IsPositive(AB);
        pos[i].in <== align[i];
        aSq[i] <== align[i] * align[i];
        nRho[i] <== norm[i] * rho;
        cosLow[i] = ScaledLess(2 * AB, 64);     // a² γ_den² < γ_num² n ρ
        cosLow[i].lhs <== aSq[i];
        cosLow[i].lm <== square[1];
        cosLow[i].rhs <== nRho[i];
        cosLow[i].rm <== square[0];
        big[i] = ScaledLess(AB + 1, 64);        // β_num² ρ < n β_den²
        big[i].lhs <== rho;
        big[i].lm <== square[2];
        big[i].rhs <== norm[i];
        big[i].rm <== square[3];
    }
    // DUPLICATE pairs: G_ij > 0 and G_ij² δ_den² ≥ δ_num² n_i n_j (zero rows are never positive),
    // counted for the later member only: i when rank_j < rank_i, else j
    component gPos[N][N];
    component gLow[N][N];
    component jFirst[N][N];
    signal gSq[N][N];
    signal nn[N][N];
    signal pairOn[N][N];
    signal pair[N][N];
    signal toI[N][N];
    var dups[N];
    for (var i = 0; i < N; i++) {
        dups[i] = 0;
    }
    for (var i = 0; i < N; i++) {
        for (var j = i + 1; j < N; j++) {
            gPos[i][j] = IsPositive(AB);
            gPos[i][j].in <== gram[i][j];
            gSq[i][j] <== gram[i][j] * gram[i][j];
            nn[i][j] <== norm[i] * norm[j];
            gLow[i][j] = ScaledLess(2 * AB, 64);  // G² δ_den² < δ_num² n_i n_j
            gLow[i][j].lhs <== gSq[i][j];
            gLow[i][j].lm <== square[5];
            gLow[i][j].rhs <== nn[i][j];
            gLow[i][j].rm <== square[4];
            pairOn[i][j] <== gPos[i][j].out * dupOn.out;
            pair[i][j] <== pairOn[i][j] * (1 - gLow[i][j].out);
            jFirst[i][j] = LessThan(6);           // rank_j < rank_i: i is the later one
            jFirst[i][j].in[0] <== rank[j];
            jFirst[i][j].in[1] <== rank[i];
            toI[i][j] <== pair[i][j] * jFirst[i][j].out;
            dups[i] += toI[i][j];
            dups[j] += pair[i][j] - toI[i][j];
        }
    }
    component noDup[N];
    signal okAlign[N];
    signal ok[N];
    signal clean[N];
    signal live[N];
    for (var i = 0; i < N; i++) {
        noDup[i] = StrictIsZero();
        noDup[i].in <== dups[i];
        okAlign[i] <== pos[i].out * (1 - cosLow[i].out);
        ok[i] <== okAlign[i] * (1 - big[i].out);
        live[i] <== active[i] * (1 - rhoZero.out);
        clean[i] <== ok[i] * noDup[i].out;
        flag[i] <== live[i] * (1 - clean[i]);
    }
}

// The one-hot row of score constants for c in 0 .. N: coef[t] = Σ_v [c = v] q_t(v), den = D(c, h).
template ScoreRow(N) {
    signal input c;
    signal output coef[6];
    signal output den;
    component is[N + 1];
    var lc[7];
    for (var t = 0; t < 7; t++) {
        lc[t] = 0;
    }
    for (var v = 0; v <= N; v++) {
        is[v] = StrictIsZero();
        is[v].in <== c - v;
        for (var t = 0; t < 7; t++) {
            lc[t] += is[v].out * referenceScoreConstant(v, t);
        }
    }
    for (var t = 0; t < 6; t++) {
        coef[t] <== lc[t];
    }
    den <== lc[6];
}

// score_i = max(0, floor(N_i / D_c)) for i in G (and ρ > 0), else 0, with
// N_i = q_1 a_i + q_2 A_G + q_3 G_ii + q_4 R_i + q_5 D_G + q_6 T_G.
template ReferenceScores(N, DB, SB) {
    signal input accepted[N];
    signal input live;            // ρ > 0
    signal input coef[6];
    signal input den;
    signal input align[N];
    signal input norm[N];
    signal input cross[N];        // R_i = ⟨s_i, T⟩
    signal input alignG;          // A_G
    signal input diagG;           // D_G
    signal input totalG;          // T_G
    signal input quotient[N];
    signal input remainder[N];
    signal output score[N];
    signal common[3];
    common[0] <== coef[1] * alignG;
    common[1] <== coef[4] * diagG;
    common[2] <== coef[5] * totalG;
    signal t1[N];
    signal t3[N];
    signal t4[N];
    signal dq[N];
    signal nonneg[N];
    component qBits[N];
    component rBits[N];
    component rLow[N];
    for (var i = 0; i < N; i++) {
        t1[i] <== coef[0] * align[i];
        t3[i] <== coef[2] * norm[i];
        t4[i] <== coef[3] * cross[i];
        dq[i] <== den * quotient[i];
        accepted[i] * (t1[i] + t3[i] + t4[i] + common[0] + common[1] + common[2] - dq[i] - remainder[i]) === 0;
        quotient[i] * (1 - accepted[i]) === 0;
        remainder[i] * (1 - accepted[i]) === 0;
        qBits[i] = Num2Bits(SB + 1);           // quotient in [-2^SB, 2^SB)
        qBits[i].in <== quotient[i] + (1 << SB);
        rBits[i] = Num2Bits(DB);
        rBits[i].in <== remainder[i];
        rLow[i] = LessThan(DB + 1);
        rLow[i].in[0] <== remainder[i];
        rLow[i].in[1] <== den;
        rLow[i].out === 1;
        nonneg[i] <== qBits[i].out[SB] * quotient[i];
        score[i] <== live * nonneg[i];
    }
}

template ReferenceRound(N, K, H_NUM, H_DEN) {
    var VB = 40;                      // sketch values: |s|, |r| <= 2^40 - 1
    var KB = ceilLog2(K);
    var CB = ceilLog2(N + 2);         // c and the aggregate's remainders: <= N < 2^CB
    var AB = 2 * VB + KB;             // |a_i|, n_i, ρ, |G_ij| < K 2^80 <= 2^AB
    var SB = 126;                     // scores (packed two per input) and |quotient| < 2^SB
    var NP = (N + 1) \ 2;
    var DB = 1;                       // D(c, h) < 2^DB for every c
    for (var v = 0; v <= N; v++) {
        while ((1 << DB) <= referenceScoreConstant(v, 6)) {
            DB++;
        }
    }
    assert(N >= 1 && N <= 42 && K >= 1);
    assert(2 * AB + 64 <= 252);
    assert(DB + SB + 2 <= 252);

    // ---- public inputs -------------------------------------------------------------------
    signal input commitments[N];
    signal input referenceCommitment;
    signal input order;
    signal input marks;
    signal input params;
    signal input packedScores[NP];
    signal input aggregateCommitment;
    // ---- private inputs ------------------------------------------------------------------
    signal input sketch[N][K];
    signal input salt[N];
    signal input reference[K];
    signal input referenceSalt;
    signal input aggregate[K];
    signal input remainder[K];
    signal input quotient[N];
    signal input scoreRemainder[N];

    // ---- 0. marks, params and the submission order ------------------------------------------
    component p = ReferenceParams(N, H_NUM, H_DEN);
    p.marks <== marks;
    p.params <== params;
    component ranks = OrderRanks(N);
    ranks.order <== order;

    // ---- 1. A and the openings: every active slot's sketch, and r ----------------------------
    component absent[N];
    signal active[N];
    component opening[N];
    component value[N][K];
    for (var i = 0; i < N; i++) {
        absent[i] = StrictIsZero();
        absent[i].in <== commitments[i];
        active[i] <== (1 - absent[i].out) * (1 - p.rejectBit[i]);
        opening[i] = SketchCommitment(K);
        opening[i].salt <== salt[i];
        for (var j = 0; j < K; j++) {
            opening[i].sketch[j] <== sketch[i][j];
            value[i][j] = SketchValue(VB);
            value[i][j].in <== sketch[i][j];
            sketch[i][j] * (1 - active[i]) === 0;
        }
        salt[i] * (1 - active[i]) === 0;
        active[i] * (opening[i].commitment - commitments[i]) === 0;
    }
    component refOpening = SketchCommitment(K);
    component refValue[K];
    refOpening.salt <== referenceSalt;
    for (var j = 0; j < K; j++) {
        refOpening.sketch[j] <== reference[j];
        refValue[j] = SketchValue(VB);
        refValue[j].in <== reference[j];
    }
    refOpening.commitment === referenceCommitment;

    // ---- 2. a_i, n_i, ρ, the Gram matrix and the flags --------------------------------------
    component rhoDot = Dot(K);
    component alignDot[N];
    component normDot[N];
    component gramDot[N][N];
    component flags = ReferenceFlags(N, AB);
    for (var j = 0; j < K; j++) {
        rhoDot.x[j] <== reference[j];
        rhoDot.y[j] <== reference[j];
    }
    flags.rho <== rhoDot.out;
    for (var t = 0; t < 6; t++) {
        flags.part[t] <== p.part[t];
        flags.square[t] <== p.square[t];
    }
    for (var i = 0; i < N; i++) {
        alignDot[i] = Dot(K);
        normDot[i] = Dot(K);
        for (var j = 0; j < K; j++) {
            alignDot[i].x[j] <== sketch[i][j];
            alignDot[i].y[j] <== reference[j];
            normDot[i].x[j] <== sketch[i][j];
            normDot[i].y[j] <== sketch[i][j];
        }
        flags.active[i] <== active[i];
        flags.rank[i] <== ranks.rank[i];
        flags.align[i] <== alignDot[i].out;
        flags.norm[i] <== normDot[i].out;
        for (var l = 0; l < N; l++) {
            if (l > i) {
                gramDot[i][l] = Dot(K);
                for (var j = 0; j < K; j++) {
                    gramDot[i][l].x[j] <== sketch[i][j];
                    gramDot[i][l].y[j] <== sketch[l][j];
                }
                flags.gram[i][l] <== gramDot[i][l].out;
            } else {
                flags.gram[i][l] <== 0;
            }
        }
    }
    signal accepted[N];
    var c = 0;
    for (var i = 0; i < N; i++) {
        flags.flag[i] === p.flagBit[i];
        accepted[i] <== active[i] - flags.flag[i];
        c += accepted[i];
    }

    // ---- 3. T = Σ_G s_i, g = floor(T / c) with checked remainders (g = 0 when c = 0) ---------
    component cZero = StrictIsZero();
    cZero.in <== c;
    signal kept[N][K];
    signal total[K];
    signal cg[K];
    component gRange[K];
    component rBits[K];
    component rBelowC[K];
    for (var j = 0; j < K; j++) {
        var sum = 0;
        for (var i = 0; i < N; i++) {
            kept[i][j] <== accepted[i] * sketch[i][j];
            sum += kept[i][j];
        }
        total[j] <== sum;
        gRange[j] = SignedBits(VB);
        gRange[j].in <== aggregate[j];
        aggregate[j] * cZero.out === 0;
        rBits[j] = Num2Bits(CB);
        rBits[j].in <== remainder[j];
        rBelowC[j] = LessThan(CB);
        rBelowC[j].in[0] <== remainder[j];
        rBelowC[j].in[1] <== c;
        rBelowC[j].out + cZero.out === 1;
        cg[j] <== c * aggregate[j];
        cg[j] + remainder[j] === total[j];
    }
    component gCommit = AggregateCommitment(K);
    for (var j = 0; j < K; j++) {
        gCommit.g[j] <== aggregate[j];
    }
    gCommit.commitment === aggregateCommitment;

    // ---- 4. the scores: N_i from the row of constants for c, one division each ---------------
    component row = ScoreRow(N);
    row.c <== c;
    component alignG = Dot(K);
    component totalG = Dot(K);
    component crossDot[N];
    component scores = ReferenceScores(N, DB, SB);
    for (var j = 0; j < K; j++) {
        alignG.x[j] <== total[j];
        alignG.y[j] <== reference[j];
        totalG.x[j] <== total[j];
        totalG.y[j] <== total[j];
    }
    signal keptNorm[N];
    var diag = 0;
    for (var i = 0; i < N; i++) {
        crossDot[i] = Dot(K);
        for (var j = 0; j < K; j++) {
            crossDot[i].x[j] <== sketch[i][j];
            crossDot[i].y[j] <== total[j];
        }
        keptNorm[i] <== accepted[i] * normDot[i].out;
        diag += keptNorm[i];
        scores.accepted[i] <== accepted[i];
        scores.align[i] <== alignDot[i].out;
        scores.norm[i] <== normDot[i].out;
        scores.cross[i] <== crossDot[i].out;
        scores.quotient[i] <== quotient[i];
        scores.remainder[i] <== scoreRemainder[i];
    }
    component rhoZero = StrictIsZero();
    rhoZero.in <== rhoDot.out;
    scores.live <== 1 - rhoZero.out;
    for (var t = 0; t < 6; t++) {
        scores.coef[t] <== row.coef[t];
    }
    scores.den <== row.den;
    scores.alignG <== alignG.out;
    scores.diagG <== diag;
    scores.totalG <== totalG.out;
    for (var q = 0; q < NP; q++) {
        if (2 * q + 1 < N) {
            packedScores[q] === scores.score[2 * q] + scores.score[2 * q + 1] * (1 << SB);
        } else {
            packedScores[q] === scores.score[2 * q];
        }
    }
}
