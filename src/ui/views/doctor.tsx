import { Box, Text } from 'ink';
import type { DoctorReport, StepStatus } from '../../doctor/doctor.js';
import { padCells } from '../text.js';

const COLORS: Record<StepStatus, string> = { PASS: 'green', WARN: 'yellow', FAIL: 'red', SKIPPED: 'gray' };
const MARKS: Record<StepStatus, string> = { PASS: '✓', WARN: '!', FAIL: '✗', SKIPPED: '-' };

export interface DoctorViewProps {
  report: DoctorReport;
  color: boolean;
}

export function DoctorView({ report, color }: DoctorViewProps) {
  const tint = (status: StepStatus) => (color ? { color: COLORS[status] } : {});
  return (
    <Box flexDirection="column">
      <Text bold>
        byoc doctor{report.service ? ` ${report.service}` : ''}: <Text {...tint(report.verdict)}>{report.verdict}</Text>
      </Text>
      {report.steps.map((step) => (
        <Box key={step.id} flexDirection="column">
          <Text>
            <Text {...tint(step.status)}>{MARKS[step.status]} {padCells(step.status, 7)}</Text> <Text bold>{padCells(step.title, 16)}</Text> {step.evidence}
          </Text>
          {step.next ? <Text dimColor>{'                          '}next: {step.next}</Text> : null}
        </Box>
      ))}
    </Box>
  );
}
