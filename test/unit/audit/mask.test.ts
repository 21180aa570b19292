import { describe, expect, it } from 'vitest';
import { maskCredentials, maskError } from '../../../src/audit/mask.js';
import { RemoteError } from '../../../src/errors.js';

describe('maskCredentials', () => {
  // Given texts an error can carry; Then the credential is replaced and the rest (host, other parameters) kept
  it.each([
    ['connect to https://auditor:Hunter2@ch.example:8443/ failed', 'connect to https://***@ch.example:8443/ failed'],
    ['http://token@host/x', 'http://***@host/x'],
    ['https://ch.example/?user=a&password=Hunter2&database=d', 'https://ch.example/?user=a&password=***&database=d'],
    ["s3('https://b.s3/x?X-Amz-Credential=AKIA1%2F&X-Amz-Signature=abc', 'CSV')", "s3('https://b.s3/x?X-Amz-Credential=***&X-Amz-Signature=***', 'CSV')"],
    ['GET /api?access_token=eyJabc.def#frag', 'GET /api?access_token=***#frag'],
    ['Code: 60. Table default.tokens does not exist', 'Code: 60. Table default.tokens does not exist'],
    ['no credentials in https://ch.example:8443/?database=d', 'no credentials in https://ch.example:8443/?database=d'],
  ])('masks %s', (text, expected) => {
    expect(maskCredentials(text)).toBe(expected);
  });

  it('masks an error, its hint and its cause', () => {
    // Given a remote error caused by a driver error, both naming a URL with a password
    const error = new RemoteError('clickhouse_error', 'failed at https://u:Pw1@h/', { hint: 'retry https://h/?password=Pw2', cause: new Error('socket https://u:Pw3@h/') });
    // When masked
    const masked = maskError(error) as RemoteError;
    // Then no password is left anywhere main prints
    expect(masked).toBe(error);
    expect(`${masked.message} ${masked.hint} ${String((masked.cause as Error).message)} ${masked.stack}`).not.toMatch(/Pw[123]/);
  });
});
