// `byoc whoami` is `byoc status` under the name people type first (one definition; the manifest lists both).
export { default } from './status.js';
