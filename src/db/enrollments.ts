export interface EnrollmentRow {
  id: string;
  app_id: string;
  user_id: string;
  user_label: string | null;
  code_hash: string;
  status: "pending" | "claimed" | "completed" | "cancelled";
  device_id: string | null;
  created_at: number;
  expires_at: number;
  completed_at: number | null;
}

export type EnrollmentStatus = "pending" | "completed" | "expired" | "cancelled";

/** The status a caller sees: a claimed code is still pending until its device proves possession. */
export function enrollmentStatus(row: EnrollmentRow, now: number): EnrollmentStatus {
  if (row.status === "completed" || row.status === "cancelled") return row.status;
  return now >= row.expires_at ? "expired" : "pending";
}

export async function enrollmentForApp(
  db: D1Database,
  appId: string,
  id: string,
): Promise<EnrollmentRow | null> {
  return db
    .prepare("SELECT * FROM enrollments WHERE id = ?1 AND app_id = ?2")
    .bind(id, appId)
    .first<EnrollmentRow>();
}

export async function enrollmentByCodeHash(db: D1Database, codeHash: string): Promise<EnrollmentRow | null> {
  return db.prepare("SELECT * FROM enrollments WHERE code_hash = ?1").bind(codeHash).first<EnrollmentRow>();
}
