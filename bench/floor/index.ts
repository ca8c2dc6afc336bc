// The floor every endpoint is measured against: no routing, no storage, no crypto.
export default {
  async fetch(): Promise<Response> {
    return new Response("ok");
  },
} satisfies ExportedHandler;
