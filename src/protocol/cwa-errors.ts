// The CWA door's error vocabulary: the error codes (`error/@code`) and SIP responses. Only 18201 appears in the SDK examples; the
// others are the 18xxx "internal service error" codes of the CWA operations guide,
// which the gateway uses for the same conditions (see docs/compatibility.md).
export const ErrorCode = {
  InvalidFormat: 18000,
  InvalidRequest: 18001,
  SessionNotFound: 18100,
  RequestThrottled: 18101,
  InvalidOperation: 18102,
  OcsFailure: 18201,
  InternalFailure: 18400,
} as const;
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

const REASONS: Record<number, string> = {
  18000: 'Invalid Format',
  18001: 'Invalid Request',
  18100: 'Session Not Found',
  18101: 'Request Throttled',
  18102: 'Invalid Operation',
  18201: 'Operation failed',
  18400: 'Internal Failure',
};

export interface SipResponse {
  code: number;
  reason: string;
  diagnostics?: string;
}

export interface CwaError {
  code: ErrorCodeValue;
  reason: string;
  detail: string;
  sipResponse?: SipResponse;
}

export function cwaError(code: ErrorCodeValue, detail: string, sipResponse?: SipResponse): CwaError {
  return { code, reason: REASONS[code] ?? 'Error', detail, sipResponse };
}

/** The documented shape of an OCS failure: 18201 wrapping a SIP response. */
export function sipFailure(code: number, reason: string): CwaError {
  return cwaError(ErrorCode.OcsFailure, 'The requested operation failed.', {
    code,
    reason,
    diagnostics: `${code};reason="${reason}";source="cwa-gateway"`,
  });
}
