// Prints the CID that kubo's `ipfs add --cid-version=1` gives for each file named on the
// command line, one per line, computed by the npm `ipfs-unixfs-importer` (an independent
// implementation of the UnixFS importer, the one Helia uses) with kubo's settings: fixed
// 262144-byte chunks, balanced layout of at most 174 links a node, raw leaves, CID v1.
//
// usage: node tests/market/storage/unixfs_cid.mjs [--chunk-size N] [--max-links M] FILE...
// (--chunk-size and --max-links change the layout, to test deep DAGs on small files)
import { createReadStream } from 'node:fs'
import { importer } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { BlackHoleBlockstore } from 'blockstore-core/black-hole'

const args = process.argv.slice(2)
let chunkSize = 262144
let maxLinks = 174
while (args[0]?.startsWith('--')) {
  const [flag, value] = args.splice(0, 2)
  if (flag === '--chunk-size') chunkSize = Number(value)
  else if (flag === '--max-links') maxLinks = Number(value)
  else throw new Error(`unknown option ${flag}`)
}

const options = {
  cidVersion: 1,
  rawLeaves: true,
  reduceSingleLeafToSelf: true,
  chunker: fixedSize({ chunkSize }),
  layout: balanced({ maxChildrenPerNode: maxLinks })
}

for (const path of args) {
  let root
  for await (const entry of importer([{ content: createReadStream(path) }], new BlackHoleBlockstore(), options)) {
    root = entry.cid
  }
  console.log(root.toString())
}
