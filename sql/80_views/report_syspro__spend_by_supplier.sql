-- Spend by supplier and invoice month: the original invoice values (in the
-- invoice's currency) of every invoice SYSPRO still has.
create or replace view {{database}}.{{schema}}.report_syspro__spend_by_supplier as
with

invoices as (
    select * from {{database}}.{{schema}}.syspro__ap_invoice
    where not is_deleted
),

suppliers as (
    select * from {{database}}.{{schema}}.syspro__ap_supplier
    where not is_deleted
),

invoice_lines as (
    select
        invoices.record:"Supplier"::varchar as supplier_code,
        invoices.record:"Currency"::varchar as currency_code,
        invoices.record:"OrigInvValue"::number(14, 2) as invoice_amount,
        date_trunc('month', to_date(invoices.record:"InvoiceDate"::timestamp_ntz)) as invoice_month
    from invoices
),

final as (
    select
        -- ids
        invoice_lines.supplier_code,
        -- dimensions
        max(suppliers.record:"SupplierName"::varchar) as supplier_name,
        invoice_lines.currency_code,
        invoice_lines.invoice_month,
        -- measures
        sum(invoice_lines.invoice_amount) as spend_amount,
        count(*) as invoice_count
    from invoice_lines
    left join suppliers
        on suppliers.record_key = invoice_lines.supplier_code
    group by invoice_lines.supplier_code, invoice_lines.currency_code, invoice_lines.invoice_month
)

select * from final;
