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
parentPort.on('message', ({ id, hash, packed, lengths }) => {
  try {
    const bytes = Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength);
    let at = 0;
    const [data, signature, spkiDer, tbs] = lengths.map((length) => bytes.subarray(at, (at += length)));
    const name = Buffer.from(spkiDer).toString('base64');
    let key = keys.get(name);
    if (!key) {
      key = createPublicKey({ key: spkiDer, format: 'der', type: 'spki' });
      if (keys.size >= 256) keys.delete(keys.keys().next().value);
      keys.set(name, key);
    }
    if (!verify(hash, data, key, signature)) return parentPort.postMessage({ id, verified: false });
    parentPort.postMessage({ id, verified: true, signature: sign('sha256', tbs, workerData.key) });
  } catch (error) {
    parentPort.postMessage({ id, failed: String((error && error.message) || error) });
  }
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
  private next = 0;

  constructor(
    private readonly key: KeyObject,
    private readonly script = SIGNER_SCRIPT,
  ) {}

  /**
   * The signature over `tbs`, made only once the CSR's proof verified; a proof that does not verify rejects with
   * the same error as parseCsr. A thread that dies fails the jobs it held (the request gets a 5xx) and the next
   * job starts a new one.
   */
  sign(proof: CsrProof, tbs: Buffer): Promise<Buffer> {
    const worker = this.started();
    const id = this.next++;
    return new Promise<Buffer>((resolve, reject) => {
      this.jobs.set(id, { resolve, reject });
      // Only a thread with work keeps the process alive.
      if (this.jobs.size === 1) worker.ref();
      // One fresh buffer, moved rather than copied: a small Buffer is a view of Node's shared 8 KiB pool, and
      // posting it clones that whole pool (~25 us per job for the four). The CSR's key travels as its DER; the
      // thread parses each key once.
      const parts = [proof.data, proof.signature, proof.spkiDer, tbs];
      const packed = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
      let at = 0;
      for (const part of parts) {
        packed.set(part, at);
        at += part.length;
      }
      worker.postMessage({ id, hash: proof.hash, packed, lengths: parts.map((part) => part.length) }, [packed.buffer]);
    });
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
    worker.on('message', (answer: Answer) => this.settle(answer));
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
    for (const job of jobs) job.reject(error);
  }
}
