/**
 * Keras' order of `model.layers` for functional models, and the set of "top cuts" any
 * topological order could produce.
 *
 * Keras 2 (`keras/engine/functional.py`: `_build_map`, `_build_map_helper`, `_map_graph_network`)
 * and Keras 3 (`keras/src/ops/function.py`: `map_graph`) order a functional model's layers the
 * same way: a depth-first search from the outputs gives every layer a discovery index (pre-order;
 * the inputs of a merge layer are visited in call order, e.g. `add([x, residual])` visits `x`
 * first); the depth of a node is the longest path from it to an output; layers are sorted by
 * depth, deepest (the InputLayer) first, ties broken by discovery index. tfjs-layers'
 * `Container` constructor ports this algorithm, so `model.layers` already is the Keras order;
 * {@link kerasLayerOrder} re-derives it from the graph so that claim is checked, not assumed
 * (`test/models/layer-order.test.ts`).
 */
import type * as tf from '@tensorflow/tfjs';

type Layer = tf.layers.Layer;
type GraphNode = Layer['inboundNodes'][number];

/**
 * The layers of a functional model in Keras' `model.layers` order (depth from the outputs,
 * deepest first; ties by depth-first discovery index from the outputs).
 */
export function kerasLayerOrder(model: tf.LayersModel): Layer[] {
  const finished = new Set<GraphNode>();
  const inProgress = new Set<GraphNode>();
  const nodesInDecreasingDepth: GraphNode[] = [];
  const layerIndex = new Map<Layer, number>();

  // _build_map_helper: pre-order discovery index, post-order node list.
  const visit = (layer: Layer, nodeIndex: number): void => {
    const node = layer.inboundNodes[nodeIndex];
    if (finished.has(node)) return;
    if (inProgress.has(node)) throw new Error(`layer ${layer.name} is part of a cycle`);
    if (!layerIndex.has(layer)) layerIndex.set(layer, layerIndex.size);
    inProgress.add(node);
    node.inboundLayers.forEach((inbound, i) => visit(inbound, node.nodeIndices[i]));
    finished.add(node);
    inProgress.delete(node);
    nodesInDecreasingDepth.push(node);
  };
  for (const out of model.outputs) visit(out.sourceLayer, out.nodeIndex);

  // _map_graph_network: depth of a node = max over its consumers of their depth + 1.
  const nodeDepth = new Map<GraphNode, number>();
  const layerDepth = new Map<Layer, number>();
  for (let n = nodesInDecreasingDepth.length - 1; n >= 0; n--) {
    const node = nodesInDecreasingDepth[n];
    const depth = Math.max(nodeDepth.get(node) ?? 0, layerDepth.get(node.outboundLayer) ?? 0);
    layerDepth.set(node.outboundLayer, depth);
    nodeDepth.set(node, depth);
    node.inboundLayers.forEach((inbound, i) => {
      const parent = inbound.inboundNodes[node.nodeIndices[i]];
      nodeDepth.set(parent, Math.max(depth + 1, nodeDepth.get(parent) ?? 0));
    });
  }
  // Inputs not connected to the outputs: depth 0, index -1 (as Keras).
  for (const input of model.inputs) {
    if (!layerDepth.has(input.sourceLayer)) {
      layerDepth.set(input.sourceLayer, 0);
      layerIndex.set(input.sourceLayer, -1);
    }
  }
  return [...layerDepth.keys()].sort(
    (a, b) =>
      (layerDepth.get(b) ?? 0) - (layerDepth.get(a) ?? 0) ||
      (layerIndex.get(a) ?? 0) - (layerIndex.get(b) ?? 0),
  );
}

/**
 * Every sum of `weight` over a "top cut" of the model: a set of layers that is closed under
 * consumers (with a layer, every layer reading its output). These are exactly the sets "the top
 * k layers" can denote in SOME topological order, so a count that is not in this set cannot come
 * from any layer ordering. Exhaustive enumeration (sets are deduplicated), restricted to cuts whose
 * sum is at most `limit` (weights must be non-negative, so larger cuts only grow); the model's
 * InputLayer is never part of a cut. Returns the distinct sums, ascending.
 * @param maxCuts safety bound on the number of cuts visited (throws beyond it).
 */
export function topCutSums(
  model: tf.LayersModel,
  weight: (layer: Layer) => number,
  limit: number,
  maxCuts = 1_000_000,
): number[] {
  const layers = kerasLayerOrder(model).filter((l) => l.getClassName() !== 'InputLayer');
  const index = new Map(layers.map((l, i) => [l, i]));
  const consumers: number[][] = layers.map(() => []);
  layers.forEach((l, i) => {
    for (const node of l.inboundNodes) {
      for (const inbound of node.inboundLayers) {
        const j = index.get(inbound);
        if (j !== undefined && !consumers[j].includes(i)) consumers[j].push(i);
      }
    }
  });
  const w = layers.map((l) => {
    const v = weight(l);
    if (!(v >= 0)) throw new Error(`topCutSums: weight of ${l.name} must be >= 0, got ${v}`);
    return v;
  });
  const seen = new Set<string>();
  const sums = new Set<number>();
  const stack: { members: boolean[]; sum: number }[] = [{ members: layers.map(() => false), sum: 0 }];
  while (stack.length > 0) {
    const cut = stack.pop();
    if (cut === undefined) break;
    const key = cut.members.map((m) => (m ? '1' : '0')).join('');
    if (seen.has(key)) continue;
    seen.add(key);
    if (seen.size > maxCuts) throw new Error(`topCutSums: more than ${maxCuts} cuts below ${limit}`);
    sums.add(cut.sum);
    for (let i = 0; i < layers.length; i++) {
      if (cut.members[i] || !consumers[i].every((c) => cut.members[c])) continue;
      const sum = cut.sum + w[i];
      if (sum > limit) continue;
      const members = cut.members.slice();
      members[i] = true;
      stack.push({ members, sum });
    }
  }
  return [...sums].sort((a, b) => a - b);
}
