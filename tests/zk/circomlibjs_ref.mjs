// Reference values from circomlibjs (npm) for tests/zk: Poseidon and the sketch commitment.
//
// Protocol: one JSON request per line on stdin, one JSON reply per line on stdout.
//   {"op": "poseidon", "inputs": ["1", "2"]}                  -> {"result": "<decimal>"}
//   {"op": "commit", "salt": "5", "sketch": ["-1", "3", ...]}  -> {"result": "<decimal>"}
//   {"op": "batch", "requests": [ ...requests... ]}            -> {"result": [ ...results... ]}
// Errors are replied as {"error": "<message>"}.
//
// The commitment is written here from zk/README.md, independently of zk/commitment.py:
// chain Poseidon over X = [salt, s_0 mod p, ..., s_{k-1} mod p]: the first call takes up to 16
// elements, every later call the previous hash and up to 15 more.
import { buildPoseidon } from "circomlibjs";
import { createInterface } from "node:readline";

const P = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;

const poseidon = await buildPoseidon();
const F = poseidon.F;
const hash = (xs) => F.toObject(poseidon(xs));
const mod = (v) => ((BigInt(v) % P) + P) % P;

function commit(salt, sketch) {
    const xs = [BigInt(salt), ...sketch.map(mod)];
    let h = hash(xs.slice(0, 16));
    for (let i = 16; i < xs.length; i += 15) {
        h = hash([h, ...xs.slice(i, i + 15)]);
    }
    return h;
}

function answer(req) {
    switch (req.op) {
        case "poseidon":
            return hash(req.inputs.map(BigInt)).toString();
        case "commit":
            return commit(req.salt, req.sketch).toString();
        case "batch":
            return req.requests.map(answer);
        default:
            throw new Error(`unknown op ${req.op}`);
    }
}

const rl = createInterface({ input: process.stdin, terminal: false });
for await (const line of rl) {
    if (!line.trim()) continue;
    let reply;
    try {
        reply = { result: answer(JSON.parse(line)) };
    } catch (err) {
        reply = { error: String(err && err.message ? err.message : err) };
    }
    process.stdout.write(JSON.stringify(reply) + "\n");
}
