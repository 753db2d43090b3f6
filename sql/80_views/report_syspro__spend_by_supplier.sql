-- Spend by supplier and invoice month: the original invoice values (in the
-- invoice's currency) of every invoice ever synced. Rows flagged deleted are
-- kept: SYSPRO purges paid invoices, and past spend must not shrink when it
-- does; deleted_invoice_count shows how much of a month is purged history.
-- Per company (a supplier code is its company's); filter by company_id.
create or replace view {{database}}.{{schema}}.report_syspro__spend_by_supplier as
with

invoices as (
    select * from {{database}}.{{schema}}.syspro__ap_invoice
),

-- a purged supplier keeps its name for its past spend
suppliers as (
    select * from {{database}}.{{schema}}.syspro__ap_supplier
),

invoice_lines as (
    select
        invoices.company_id,
        invoices.record:"Supplier"::varchar as supplier_code,
        invoices.record:"Currency"::varchar as currency_code,
        invoices.record:"OrigInvValue"::number(14, 2) as invoice_amount,
        invoices.is_deleted,
        date_trunc(
            'month', try_to_date(left(invoices.record:"InvoiceDate"::varchar, 10), 'YYYY-MM-DD')
        ) as invoice_month
    from invoices
),

final as (
    select
        -- ids
        invoice_lines.company_id,
        invoice_lines.supplier_code,
        -- dimensions
        max(suppliers.record:"SupplierName"::varchar) as supplier_name,
        invoice_lines.currency_code,
        invoice_lines.invoice_month,
        -- measures
        sum(invoice_lines.invoice_amount) as spend_amount,
        count(*) as invoice_count,
        count_if(invoice_lines.is_deleted) as deleted_invoice_count
    from invoice_lines
    left join suppliers
        on
            suppliers.company_id = invoice_lines.company_id
            and suppliers.record_key = invoice_lines.supplier_code
    group by
        invoice_lines.company_id,
        invoice_lines.supplier_code,
        invoice_lines.currency_code,
        invoice_lines.invoice_month
)

select * from final;
