// Polyfill of Promise.withResolvers (Node >= 22 has it) for the js-ipfs daemon on Node 20:
// loaded with NODE_OPTIONS=--import=<this file> by tests/market/storage/jsipfs.py.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve, reject
    const promise = new this((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}
