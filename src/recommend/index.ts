/** `dnsgate recommend` and `dnsgate stage`: egress policies per workload from observed DNS logs, and their staged form. See the README's adoption walkthrough. */
export { LogPathError, readLogs } from './log-reader.js';
export { recommend, type RecommendOptions } from './recommend.js';
export { renderRecommendation, type RenderOptions } from './render.js';
export { stagePolicies } from './stage.js';
export { ObservationBuilder } from './workloads.js';
