// A service served by the runtime: its descriptor, its handlers (connect-es ServiceImpl shape,
// written once and served on the gRPC port and by connect-node), and which of its methods are unsigned.
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";

export interface ServiceRegistration {
  readonly service: DescService;
  readonly impl: Partial<ServiceImpl<DescService>>;
  /** Method names (as in the proto) that carry no cm-* signature. Default: none. */
  readonly unsignedMethods?: ReadonlySet<string>;
  /** Health and reflection: unsigned, never response-signed, no business metrics label. */
  readonly infrastructure?: boolean;
}

export function registration<S extends DescService>(service: S, impl: Partial<ServiceImpl<S>>, options: { unsignedMethods?: readonly string[]; infrastructure?: boolean } = {}): ServiceRegistration {
  return {
    service,
    impl: impl as Partial<ServiceImpl<DescService>>,
    unsignedMethods: new Set(options.unsignedMethods ?? []),
    infrastructure: options.infrastructure ?? false,
  };
}

export function isSigned(registration: ServiceRegistration, method: DescMethod): boolean {
  return !registration.infrastructure && !(registration.unsignedMethods?.has(method.name) ?? false);
}

export function procedureOf(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}
