// Public surface of the generated contracts. Generated files live in ./gen (buf generate);
// this index is written by hand and lists every file so reflection can serve them all.
import type { DescFile } from "@bufbuild/protobuf";
import { file_clearmesh_common_v1_common } from "./gen/clearmesh/common/v1/common_pb.js";
import { file_clearmesh_events_v1_envelope } from "./gen/clearmesh/events/v1/envelope_pb.js";
import { file_clearmesh_clearing_v1_clearing } from "./gen/clearmesh/clearing/v1/clearing_pb.js";
import { file_clearmesh_clearing_v1_events } from "./gen/clearmesh/clearing/v1/events_pb.js";
import { file_clearmesh_settlement_v1_events } from "./gen/clearmesh/settlement/v1/events_pb.js";
import { file_clearmesh_bank_v1_bank } from "./gen/clearmesh/bank/v1/bank_pb.js";
import { file_clearmesh_wallet_v1_wallet } from "./gen/clearmesh/wallet/v1/wallet_pb.js";
import { file_clearmesh_commerce_v1_commerce } from "./gen/clearmesh/commerce/v1/commerce_pb.js";
import { file_clearmesh_notify_v1_notify } from "./gen/clearmesh/notify/v1/notify_pb.js";
import { file_clearmesh_notify_v1_events } from "./gen/clearmesh/notify/v1/events_pb.js";
import { file_google_rpc_status } from "./gen/google/rpc/status_pb.js";
import { file_google_rpc_error_details } from "./gen/google/rpc/error_details_pb.js";
import { file_grpc_health_v1_health } from "./gen/grpc/health/v1/health_pb.js";
import { file_grpc_reflection_v1_reflection } from "./gen/grpc/reflection/v1/reflection_pb.js";
import { file_grpc_reflection_v1alpha_reflection } from "./gen/grpc/reflection/v1alpha/reflection_pb.js";

export * from "./gen/clearmesh/common/v1/common_pb.js";
export * from "./gen/clearmesh/events/v1/envelope_pb.js";
export * from "./gen/clearmesh/clearing/v1/clearing_pb.js";
export * from "./gen/clearmesh/clearing/v1/events_pb.js";
export * from "./gen/clearmesh/settlement/v1/events_pb.js";
export * from "./gen/clearmesh/bank/v1/bank_pb.js";
export * from "./gen/clearmesh/wallet/v1/wallet_pb.js";
export * from "./gen/clearmesh/commerce/v1/commerce_pb.js";
export * from "./gen/clearmesh/notify/v1/notify_pb.js";
export * from "./gen/clearmesh/notify/v1/events_pb.js";
export * as googleRpc from "./gen/google/rpc/error_details_pb.js";
export { StatusSchema as RpcStatusSchema, type Status as RpcStatus } from "./gen/google/rpc/status_pb.js";
export * as healthV1 from "./gen/grpc/health/v1/health_pb.js";
export * as reflectionV1 from "./gen/grpc/reflection/v1/reflection_pb.js";
export * as reflectionV1alpha from "./gen/grpc/reflection/v1alpha/reflection_pb.js";

/** Every clearmesh contract file (the services partners call and the events they consume). */
export const clearmeshFiles: readonly DescFile[] = [
  file_clearmesh_common_v1_common,
  file_clearmesh_events_v1_envelope,
  file_clearmesh_clearing_v1_clearing,
  file_clearmesh_clearing_v1_events,
  file_clearmesh_settlement_v1_events,
  file_clearmesh_bank_v1_bank,
  file_clearmesh_wallet_v1_wallet,
  file_clearmesh_commerce_v1_commerce,
  file_clearmesh_notify_v1_notify,
  file_clearmesh_notify_v1_events,
];

/** Third-party files the runtime serves (health, reflection) or uses (error details). */
export const thirdPartyFiles: readonly DescFile[] = [
  file_google_rpc_status,
  file_google_rpc_error_details,
  file_grpc_health_v1_health,
  file_grpc_reflection_v1_reflection,
  file_grpc_reflection_v1alpha_reflection,
];
