/** `dnsgate recommend`: egress policies per workload from observed DNS logs. See the README's adoption walkthrough. */
export { LogPathError, readLogs } from './log-reader.js';
export { recommend, type RecommendOptions } from './recommend.js';
export { renderRecommendation, type RenderOptions } from './render.js';
export { ObservationBuilder } from './workloads.js';
