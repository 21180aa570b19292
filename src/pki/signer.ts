/**
 * The served broker's signing thread: checks a CSR's self-signature and signs the certificate's to-be-signed bytes
 * with the CA key, off the main thread (about 80 us of node:crypto per certificate that the thread answering HTTP
 * no longer spends). One thread: the broker's host is small, and the main thread keeps the other core busy.
 *
 * The thread's code is a self-contained script (node:crypto only, evaluated): no module of byoc is loaded in it, so
 * it runs the same from dist and from the TypeScript sources under test. The CA key goes to it as a KeyObject
 * (cloned into the thread, never written anywhere); CSR keys are parsed once per distinct key, as on the main thread.
 */
import type { KeyObject } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { CSR_SIGNATURE_FAILED, type CsrProof } from './x509.js';

/** @internal exported for the test that replaces a crashed thread */
export const SIGNER_SCRIPT = `
const { parentPort, workerData } = require('node:worker_threads');
const { createPublicKey, sign, verify } = require('node:crypto');
const keys = new Map();
function one({ id, hash, lengths }, bytes, at) {
  try {
    const [data, signature, spkiDer, tbs] = lengths.map((length) => bytes.subarray(at, (at += length)));
    const name = spkiDer.toString('base64');
    let key = keys.get(name);
    if (!key) {
      key = createPublicKey({ key: spkiDer, format: 'der', type: 'spki' });
      if (keys.size >= 256) keys.delete(keys.keys().next().value);
      keys.set(name, key);
    }
    if (!verify(hash, data, key, signature)) return { id, verified: false };
    return { id, verified: true, signature: sign('sha256', tbs, workerData.key) };
  } catch (error) {
    return { id, failed: String((error && error.message) || error) };
  }
}
parentPort.on('message', ({ jobs, packed }) => {
  const bytes = Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength);
  let at = 0;
  const answers = jobs.map((job) => {
    const answer = one(job, bytes, at);
    at += job.lengths.reduce((sum, length) => sum + length, 0);
    return answer;
  });
  parentPort.postMessage(answers);
});
`;

interface Job {
  resolve: (signature: Buffer) => void;
  reject: (error: Error) => void;
}

interface Answer {
  id: number;
  verified?: boolean;
  signature?: Uint8Array;
  failed?: string;
}

export class SigningThread {
  private worker: Worker | undefined;
  private readonly jobs = new Map<number, Job>();
  /** jobs not yet posted: they go together once the thread answers the batch it has */
  private queued: { id: number; hash: string; parts: Buffer[] }[] = [];
  private busy = false;
  private next = 0;

  constructor(
    private readonly key: KeyObject,
    private readonly script = SIGNER_SCRIPT,
  ) {}

  /**
   * The signature over `tbs`, made only once the CSR's proof verified; a proof that does not verify rejects with
   * the same error as parseCsr. A thread that dies fails the jobs it held or had queued (the requests get a 5xx)
   * and the next job starts a new one.
   */
  sign(proof: CsrProof, tbs: Buffer): Promise<Buffer> {
    const worker = this.started();
    const id = this.next++;
    return new Promise<Buffer>((resolve, reject) => {
      this.jobs.set(id, { resolve, reject });
      // Only a thread with work keeps the process alive.
      if (this.jobs.size === 1) worker.ref();
      this.queued.push({ id, hash: proof.hash, parts: [proof.data, proof.signature, proof.spkiDer, tbs] });
      if (!this.busy) this.post(worker);
    });
  }

  /**
   * Posts every queued job in one message. Measured on a loaded 2-core host: waking an idle thread costs the
   * poster ~85 us (the woken thread takes its core), against ~2.5 us for a post to a busy one; so while the thread
   * works, jobs wait here and go as one batch, one wake-up for all. The bytes go as one fresh buffer, moved
   * rather than copied: a small Buffer is a view of Node's shared 8 KiB pool, which posting would clone whole.
   */
  private post(worker: Worker): void {
    const batch = this.queued;
    this.queued = [];
    let size = 0;
    for (const job of batch) for (const part of job.parts) size += part.length;
    const packed = new Uint8Array(size);
    let at = 0;
    for (const job of batch) {
      for (const part of job.parts) {
        packed.set(part, at);
        at += part.length;
      }
    }
    this.busy = true;
    worker.postMessage({ jobs: batch.map((job) => ({ id: job.id, hash: job.hash, lengths: job.parts.map((part) => part.length) })), packed }, [packed.buffer]);
  }

  /** Stops the thread; jobs it still held fail. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await worker.terminate();
    this.failAll(new Error('the signing thread was stopped'));
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(this.script, { eval: true, workerData: { key: this.key } });
    worker.unref();
    worker.on('message', (answers: Answer[]) => {
      this.busy = false;
      for (const answer of answers) this.settle(answer);
      if (this.queued.length > 0 && this.worker === worker) this.post(worker);
    });
    const lost = (why: string) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.failAll(new Error(`the signing thread ${why}`));
    };
    worker.on('error', (error) => lost(`failed: ${error.message}`));
    worker.on('exit', (code) => lost(`exited (code ${code})`));
    this.worker = worker;
    return worker;
  }

  private settle(answer: Answer): void {
    const job = this.jobs.get(answer.id);
    if (!job) return;
    this.jobs.delete(answer.id);
    if (this.jobs.size === 0) this.worker?.unref();
    if (answer.failed !== undefined) job.reject(new Error(`the signing thread could not sign: ${answer.failed}`));
    else if (!answer.verified) job.reject(new Error(CSR_SIGNATURE_FAILED));
    else job.resolve(Buffer.from(answer.signature!));
  }

  private failAll(error: Error): void {
    const jobs = [...this.jobs.values()];
    this.jobs.clear();
    this.queued = [];
    this.busy = false;
    for (const job of jobs) job.reject(error);
  }
}
